//! `grpc.health.v1.Health` that reports `NOT_SERVING` from the trigger on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};
use winddown_core::{Shutdown, StateReached};

/// Creates a tonic-health [`HealthReporter`] and the health service linked
/// to it, which reports `NOT_SERVING` from the trigger of `shutdown` on.
///
/// Use the reporter as usual (`set_serving::<MyServer<_>>()`, …). The
/// service answers what it says while running; once shutdown is triggered,
/// every service reported `SERVING` (and the server as a whole, `""`) is
/// answered `NOT_SERVING`, whatever the reporter is told afterwards.
/// Services never reported stay `NOT_FOUND`.
///
/// Add the service to the server, and exempt it from the drain with
/// [`drain_layer`](crate::drain_layer) so it is answered until the end.
///
/// ```
/// use tonic_health::pb::health_check_response::ServingStatus;
/// use tonic_health::pb::health_server::Health;
/// use tonic_health::pb::HealthCheckRequest;
/// use winddown_core::Shutdown;
/// use winddown_grpc::DrainingHealth;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// let (reporter, _service) = winddown_grpc::health_reporter(&shutdown);
/// reporter.set_service_status("echo.Echo", tonic_health::ServingStatus::Serving).await;
///
/// // What the service answers (here called directly, without a server):
/// let health = DrainingHealth::new(reporter.clone(), shutdown.clone());
/// let check = |service: &str| {
///     let request = tonic::Request::new(HealthCheckRequest { service: service.into() });
///     let answer = health.check(request);
///     async move { answer.await.unwrap().into_inner().status() }
/// };
/// assert_eq!(check("echo.Echo").await, ServingStatus::Serving);
/// shutdown.trigger();
/// assert_eq!(check("echo.Echo").await, ServingStatus::NotServing);
/// assert_eq!(check("").await, ServingStatus::NotServing);
/// # }
/// ```
pub fn health_reporter(shutdown: &Shutdown) -> (HealthReporter, HealthServer<DrainingHealth>) {
    let reporter = HealthReporter::new();
    let service = DrainingHealth::new(reporter.clone(), shutdown.clone());
    (reporter, HealthServer::new(service))
}

/// tonic-health's `grpc.health.v1.Health` implementation, answering
/// `NOT_SERVING` instead of `SERVING` from the trigger on; see
/// [`health_reporter`], which creates one with its reporter.
///
/// Use [`DrainingHealth::new`] to serve the statuses of a reporter you
/// already have.
pub struct DrainingHealth {
    inner: HealthService,
    shutdown: Shutdown,
}

impl DrainingHealth {
    /// Serves the statuses `reporter` sets, with `NOT_SERVING` in place of
    /// `SERVING` once `shutdown` is triggered. Wrap it in a
    /// [`HealthServer`] to add it to a server.
    ///
    /// ```
    /// use tonic_health::pb::HealthCheckRequest;
    /// use tonic_health::pb::health_check_response::ServingStatus;
    /// use tonic_health::pb::health_server::{Health, HealthServer};
    /// use tonic_health::server::HealthReporter;
    /// use winddown_core::Shutdown;
    /// use winddown_grpc::DrainingHealth;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let reporter = HealthReporter::new(); // the one the application already has
    /// reporter.set_service_status("echo.Echo", tonic_health::ServingStatus::Serving).await;
    /// reporter.set_service_status("batch.Batch", tonic_health::ServingStatus::NotServing).await;
    ///
    /// let health = DrainingHealth::new(reporter, shutdown.clone());
    /// let status = async |service: &str| {
    ///     let request = tonic::Request::new(HealthCheckRequest { service: service.into() });
    ///     health.check(request).await.map(|answer| answer.into_inner().status())
    /// };
    /// shutdown.trigger();
    /// assert_eq!(status("echo.Echo").await.unwrap(), ServingStatus::NotServing);
    /// assert_eq!(status("batch.Batch").await.unwrap(), ServingStatus::NotServing);
    /// // Never reported: not found, as with tonic-health.
    /// assert_eq!(status("other.Other").await.unwrap_err().code(), tonic::Code::NotFound);
    ///
    /// // To add it to a `tonic::transport::Server`:
    /// let _service = HealthServer::new(health);
    /// # }
    /// ```
    pub fn new(reporter: HealthReporter, shutdown: Shutdown) -> Self {
        DrainingHealth {
            inner: HealthService::from_health_reporter(reporter),
            shutdown,
        }
    }
}

impl fmt::Debug for DrainingHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainingHealth")
            .field("shutting_down", &self.shutdown.is_shutting_down())
            .finish_non_exhaustive()
    }
}

/// The status to answer: `SERVING` turns `NOT_SERVING` once shutting down.
fn effective(status: i32, shutting_down: bool) -> i32 {
    if shutting_down && status == ServingStatus::Serving as i32 {
        ServingStatus::NotServing as i32
    } else {
        status
    }
}

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let mut response = self.inner.check(request).await?;
        let answer = response.get_mut();
        answer.status = effective(answer.status, self.shutdown.is_shutting_down());
        Ok(response)
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let response = self.inner.watch(request).await?;
        Ok(response.map(|inner| WatchStream {
            inner: Some(inner),
            triggered: Some(self.shutdown.triggered()),
            done: self.shutdown.done(),
            shutting_down: false,
            latest: None,
            sent: None,
        }))
    }
}

/// The `Watch` stream of [`DrainingHealth`]: the reporter's statuses, a
/// `NOT_SERVING` as soon as shutdown is triggered, and the end when the
/// sequence is done. See [`health_reporter`] for an example of the
/// service it comes from.
///
/// # Cancel safety
///
/// Cancel safe: the stream keeps every bit of its state itself, so a
/// `next()` dropped before it resolved loses no status; the latest one is
/// sent on the next poll.
#[must_use = "streams do nothing unless polled"]
pub struct WatchStream {
    /// tonic-health's stream; `None` once it has ended or failed.
    inner: Option<tonic_health::server::WatchStream>,
    /// Taken once it has resolved.
    triggered: Option<StateReached>,
    done: StateReached,
    shutting_down: bool,
    /// The reporter's latest status.
    latest: Option<i32>,
    /// The status last sent.
    sent: Option<i32>,
}

impl Stream for WatchStream {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if Pin::new(&mut this.done).poll(cx).is_ready() {
            this.inner = None;
            return Poll::Ready(None);
        }
        // Take every status the reporter has set, keeping the latest.
        while let Poll::Ready(item) = Pin::new(&mut *inner).poll_next(cx) {
            match item {
                Some(Ok(answer)) => this.latest = Some(answer.status),
                Some(Err(status)) => {
                    this.inner = None;
                    return Poll::Ready(Some(Err(status)));
                }
                None => {
                    this.inner = None;
                    return Poll::Ready(None);
                }
            }
        }
        if let Some(triggered) = this.triggered.as_mut()
            && Pin::new(triggered).poll(cx).is_ready()
        {
            this.triggered = None;
            this.shutting_down = true;
        }
        let Some(latest) = this.latest else {
            return Poll::Pending;
        };
        let status = effective(latest, this.shutting_down);
        if this.sent == Some(status) {
            return Poll::Pending;
        }
        this.sent = Some(status);
        Poll::Ready(Some(Ok(HealthCheckResponse { status })))
    }
}

impl fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchStream")
            .field("ended", &self.inner.is_none())
            .field("shutting_down", &self.shutting_down)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}
