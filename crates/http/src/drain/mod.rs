//! Drain HTTP traffic when shutdown starts.
//!
//! [`Drain`] (applied with [`DrainLayer`]) follows the state of a
//! [`Shutdown`]:
//!
//! | state | non-exempt requests | HTTP/1.x responses |
//! |---|---|---|
//! | running | passed through untouched | untouched |
//! | announcing | passed through | `Connection: close` added |
//! | draining, cleanup, done | answered `503` with `Retry-After` and a short plain-text body; the inner service is not called | `Connection: close` |
//!
//! - **gRPC** requests (a `content-type` starting with `application/grpc`)
//!   are refused in gRPC's terms instead of with a `503`: HTTP `200` with
//!   `grpc-status: 14` (`UNAVAILABLE`, which clients retry elsewhere) and a
//!   `grpc-message` saying the server is shutting down, in a trailers-only
//!   response (headers, no body). gRPC-Web requests get the same in their
//!   own content type.
//! - **Exempt** requests (by default `GET` and `HEAD` for `/healthz`,
//!   `/readyz` and `/metrics`, paths matched exactly; see
//!   [`DrainLayer::exempt_paths`], [`DrainLayer::exempt_methods`] and
//!   [`DrainLayer::exempt_if`]) are passed through in every state and are
//!   not counted in flight, so a scrape never holds the drain open. An
//!   exempt path the application does not route reaches its fallback. An
//!   exempt request that came in after the trigger is answered with
//!   `Connection: close` on HTTP/1.
//! - **In flight**: every other request is admitted through the shutdown's
//!   [`RequestGate`](winddown_core::RequestGate) and counts from the call
//!   until its response body has ended (its end, or its trailers, which are
//!   a message's last frame) or been dropped, so a streaming response holds
//!   the drain open until its last byte. Draining waits on
//!   this count. Admission and counting are one atomic operation each way.
//! - **Drain end**: when the drain ends (by completion or by its timeout), a
//!   response still streaming is cut: its body ends with a [`DrainEnded`]
//!   error, which makes hyper abort the HTTP/1 connection or reset the
//!   HTTP/2 stream; a native gRPC call's body (a server stream) over HTTP/2
//!   ends with trailers `grpc-status: 14` (`UNAVAILABLE`) instead, so the
//!   client reads a status it retries elsewhere rather than `INTERNAL`. A
//!   body that already gave its trailers, or says it has ended
//!   (`is_end_stream`), when the drain ends is not cut: it ends as it would
//!   have. A handler that
//!   has not produced its response by then is answered `503` (gRPC:
//!   `UNAVAILABLE`). Either way the request was counted as abandoned in the
//!   [`ShutdownReport`](winddown_core::ShutdownReport).
//! - A `Connection` header is never added to HTTP/2 (or later) responses,
//!   and never to `101 Switching Protocols`.
//! - The inner service's error type is kept, so in axum (where layers must
//!   be `Infallible`) `Router::layer(DrainLayer::new(shutdown))` just works.
//! - Metrics, through the `metrics` facade: the
//!   `winddown_rejected_requests_total` counter, and the requests in flight
//!   as the `winddown_inflight_requests` gauge. Like tower-http's
//!   `InFlightRequests`, requests are counted, not reported one by one: the
//!   shutdown sets the gauge at each change of state, and
//!   `winddown_prometheus::PrometheusMetrics::track` (which
//!   `FinalExport::register` calls) sets it at every scrape.
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use winddown_core::Shutdown;
//! use winddown_http::DrainLayer;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::builder().no_signals().build();
//! let service = ServiceBuilder::new()
//!     .layer(DrainLayer::new(shutdown.clone()))
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!     }));
//!
//! // Running: untouched.
//! let response = service.clone().oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert!(response.headers().get("connection").is_none());
//!
//! // Announcing: still served, but keep-alive clients are told to go.
//! shutdown.trigger();
//! let response = service.clone().oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["connection"], "close");
//! assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
//!
//! // Draining: refused, with a hint of when to come back.
//! tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
//! shutdown.draining().await;
//! let response = service.clone().oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(response.headers()["retry-after"], "5");
//!
//! // Probes are exempt.
//! let probe = Request::get("/readyz").body(Full::default()).unwrap();
//! let response = service.oneshot(probe).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! # }
//! ```

mod body;
mod cut;
mod exempt;
pub mod future;
mod grpc;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response, Version};
use tower::Service;
use winddown_core::metric_names::REJECTED_REQUESTS_TOTAL;
use winddown_core::{Admission, Shutdown};

pub use body::{DrainBody, DrainEnded};
pub use layer::DrainLayer;

use future::ResponseFuture;
use grpc::Dialect;
use layer::Config;

/// Middleware that drains HTTP traffic when shutdown starts.
///
/// See the [module docs](self) for the behaviour and an example. Build it
/// with [`DrainLayer`] (or [`Drain::new`] for the defaults).
#[derive(Debug, Clone)]
pub struct Drain<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Drain<S> {
    /// Wraps `inner` with the default settings (see [`DrainLayer::new`]).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bytes::Bytes;
    /// use http::{Request, Response, StatusCode};
    /// use http_body_util::Full;
    /// use tower::{ServiceExt, service_fn};
    /// use winddown_core::Shutdown;
    /// use winddown_http::Drain;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let hello = service_fn(|_req: Request<Full<Bytes>>| async {
    ///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// });
    /// let service = Drain::new(hello, shutdown.clone());
    ///
    /// let response = service.clone().oneshot(Request::new(Full::default())).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::OK);
    ///
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// shutdown.draining().await;
    /// let response = service.oneshot(Request::new(Full::default())).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// # }
    /// ```
    pub fn new(inner: S, shutdown: Shutdown) -> Self {
        DrainLayer::new(shutdown).layer_into(inner)
    }

    pub(crate) fn from_parts(inner: S, config: Arc<Config>) -> Self {
        Drain { inner, config }
    }

    /// A [`DrainLayer`] with the default settings.
    ///
    /// ```
    /// use tower::Layer;
    /// use winddown_core::Shutdown;
    /// use winddown_http::Drain;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// // `layer` does not use `S`, so the call has to name one.
    /// let layer = Drain::<()>::layer(shutdown);
    /// assert_eq!(layer.exempt_path_list(), ["/healthz", "/readyz", "/metrics"]);
    /// let drain = layer.layer("inner service");
    /// assert_eq!(drain.into_inner(), "inner service");
    /// ```
    pub fn layer(shutdown: Shutdown) -> DrainLayer {
        DrainLayer::new(shutdown)
    }

    /// Gets a reference to the inner service.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_http::Drain;
    ///
    /// // Any value stands in for a service here.
    /// let drain = Drain::new(vec![1, 2], Shutdown::builder().no_signals().build());
    /// assert_eq!(drain.get_ref(), &[1, 2]);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gets a mutable reference to the inner service.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_http::Drain;
    ///
    /// // Any value stands in for a service here.
    /// let mut drain = Drain::new(vec![1, 2], Shutdown::builder().no_signals().build());
    /// drain.get_mut().push(3);
    /// assert_eq!(drain.get_ref(), &[1, 2, 3]);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_http::Drain;
    ///
    /// // Any value stands in for a service here.
    /// let drain = Drain::new(vec![1, 2], Shutdown::builder().no_signals().build());
    /// assert_eq!(drain.into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl DrainLayer {
    fn layer_into<S>(&self, inner: S) -> Drain<S> {
        tower::Layer::layer(self, inner)
    }
}

/// Whether responses on this version may carry a `Connection` header.
fn is_http1(version: Version) -> bool {
    matches!(
        version,
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    )
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Drain<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<DrainBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Admitted before the request is read: the request has usually just
        // been moved here, and reading it at once would wait for that copy;
        // the admission's atomic operation waits for it anyway. An exempt
        // request gives its admission back at once.
        let admission = self.config.gate.try_admit();
        let dialect = Dialect::of(&req);
        let exempt = &self.config.exempt;
        // Predicates (out of line, and only when there are any) see the
        // request's head in place.
        let exempt = exempt.matches_path(&req)
            || (exempt.has_predicates() && exempt.check_predicates(&mut req));
        let (admission, exempt_close) = match (admission, exempt) {
            (Some(admission), false) => (Some(admission), false),
            // Served in every state, not counted. Admitted means running or
            // announcing; refused means draining.
            (admission, true) => (None, exempt_close(admission)),
            (None, false) => return refuse(dialect, self.config.retry_secs),
        };
        // One place calls the inner service, for counted and exempt
        // requests alike; a refused request never reaches it.
        ResponseFuture::new(
            self.inner.call(req),
            admission,
            dialect,
            exempt_close,
            self.config.retry_secs,
        )
    }
}

/// The future of a refused request, which is counted.
#[cold]
#[inline(never)]
fn refuse<F>(dialect: Dialect, retry_secs: u64) -> ResponseFuture<F> {
    metrics::counter!(REJECTED_REQUESTS_TOTAL).increment(1);
    ResponseFuture::refused(dialect, retry_secs)
}

/// Whether an exempt request's answer closes its HTTP/1 connection: whether
/// shutdown had started when it came in. Gives the admission back.
#[cold]
#[inline(never)]
fn exempt_close(admission: Option<Admission>) -> bool {
    admission.as_ref().is_none_or(Admission::is_shutting_down)
}
