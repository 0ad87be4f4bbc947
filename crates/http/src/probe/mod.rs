//! Readiness and liveness probes: one tower service, [`Probe`], in two kinds.
//!
//! - [`Probe::readiness`] answers `200` while running and `503` from the
//!   trigger on, so load balancers stop sending traffic while the service
//!   still serves what reaches it (the announce step).
//! - [`Probe::liveness`] answers `200` until the end: a shutting-down process
//!   is alive, and restarting it would only cut the drain short.
//!
//! Both answer any method with a one-line plain-text body naming the state.
//! In axum, mount them with `axum::routing::get_service` or
//! `Router::route_service`; their paths (`/readyz`, `/healthz` by default)
//! are exempt from the [`DrainLayer`](crate::DrainLayer).
//!
//! # Examples
//!
//! ```
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//! use winddown_core::Shutdown;
//! use winddown_http::Probe;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let shutdown = Shutdown::builder().no_signals().build();
//! let readiness = Probe::readiness(shutdown.clone());
//! let liveness = Probe::liveness(shutdown.clone());
//!
//! let ready = readiness.clone().oneshot(Request::new(())).await.unwrap();
//! assert_eq!(ready.status(), StatusCode::OK);
//!
//! shutdown.trigger();
//! let ready = readiness.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
//! let live = liveness.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(live.status(), StatusCode::OK);
//! # }
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use tower::Service;
use winddown_core::Shutdown;

/// What a [`Probe`] reports.
///
/// ```
/// use http::StatusCode;
/// use http_body_util::Full;
/// use tower::ServiceExt;
/// use winddown_http::{Probe, ProbeKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
/// let ready = Probe::new(shutdown.clone(), ProbeKind::Readiness);
/// let alive = Probe::new(shutdown.clone(), ProbeKind::Liveness);
/// shutdown.trigger();
/// let get = || http::Request::new(Full::<bytes::Bytes>::default());
/// assert_eq!(ready.oneshot(get()).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
/// assert_eq!(alive.oneshot(get()).await.unwrap().status(), StatusCode::OK);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProbeKind {
    /// `200 ready` while running, `503 not ready: shutting down (state)` from
    /// the trigger on.
    Readiness,
    /// `200 alive (state)` in every state.
    Liveness,
}

/// A readiness or liveness probe following a [`Shutdown`]; see the
/// [module docs](self) for an example.
#[derive(Debug, Clone)]
pub struct Probe {
    shutdown: Shutdown,
    kind: ProbeKind,
}

impl Probe {
    /// A probe of `kind` reporting the state of `shutdown`.
    ///
    /// ```
    /// use winddown_http::{Probe, ProbeKind};
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let probe = Probe::new(shutdown, ProbeKind::Liveness);
    /// assert_eq!(probe.kind(), ProbeKind::Liveness);
    /// ```
    pub const fn new(shutdown: Shutdown, kind: ProbeKind) -> Self {
        Probe { shutdown, kind }
    }

    /// A readiness probe: `200` while running, `503` from the trigger on.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let _readyz = winddown_http::Probe::readiness(shutdown);
    /// ```
    pub const fn readiness(shutdown: Shutdown) -> Self {
        Probe::new(shutdown, ProbeKind::Readiness)
    }

    /// A liveness probe: `200` in every state. A process that is shutting
    /// down is alive: failing liveness would make an orchestrator kill it in
    /// the middle of its drain.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let _healthz = winddown_http::Probe::liveness(shutdown);
    /// ```
    pub const fn liveness(shutdown: Shutdown) -> Self {
        Probe::new(shutdown, ProbeKind::Liveness)
    }

    /// What this probe reports.
    ///
    /// ```
    /// use winddown_http::{Probe, ProbeKind};
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert_eq!(Probe::readiness(shutdown).kind(), ProbeKind::Readiness);
    /// ```
    pub const fn kind(&self) -> ProbeKind {
        self.kind
    }

    fn answer(&self) -> (StatusCode, String) {
        let state = self.shutdown.state();
        match self.kind {
            ProbeKind::Readiness if self.shutdown.is_shutting_down() => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: shutting down ({state})\n"),
            ),
            ProbeKind::Readiness => (StatusCode::OK, "ready\n".to_owned()),
            ProbeKind::Liveness => (StatusCode::OK, format!("alive ({state})\n")),
        }
    }
}

impl<B> Service<Request<B>> for Probe {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let (status, text) = self.answer();
        let mut response = Response::new(Full::new(Bytes::from(text)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        ready(Ok(response))
    }
}
