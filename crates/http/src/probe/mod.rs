//! Readiness and liveness probes as tower services.
//!
//! - [`Readiness`] answers `200` while running and `503` from the trigger
//!   on, so load balancers stop sending traffic while the service still
//!   serves what reaches it (the announce step).
//! - [`Liveness`] answers `200` until the end: a shutting-down process is
//!   alive, and restarting it would only cut the drain short.
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
//! use winddown_http::{Liveness, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let shutdown = Shutdown::builder().no_signals().build();
//! let readiness = Readiness::new(shutdown.clone());
//! let liveness = Liveness::new(shutdown.clone());
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

mod liveness;
mod readiness;

pub use liveness::Liveness;
pub use readiness::Readiness;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// The response of a probe.
fn probe_response(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
