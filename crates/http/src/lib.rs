//! The HTTP side of winddown: a tower layer that drains traffic when
//! shutdown starts, and readiness / liveness probes.
//!
//! It depends only on `tower`, `http` and `http-body`, so it works in any
//! hyper 1.x or axum 0.8 stack:
//!
//! - [`DrainLayer`] / [`Drain`]: pass-through while running,
//!   `Connection: close` on HTTP/1 responses while announcing, `503` with
//!   `Retry-After` for new requests from draining on, exempt probe and
//!   metrics routes, in-flight counting until the last byte of the response
//!   body, and streams cut when the drain ends. See the [`drain`] module.
//! - [`Probe`]: readiness and liveness probe services (see [`probe`]).
//! - [`ServiceBuilderExt::drain_on_shutdown`] for `tower::ServiceBuilder`.
//! - [`sse::EndOnDrain`]: server-sent event streams end cleanly, with a
//!   `retry:` hint, when draining starts.
//! - `ws::DrainingWebSocket` (feature `ws`): axum WebSockets counted in
//!   flight, closed with `1001` when draining starts, cut when it ends.
//!
//! # Examples
//!
//! In axum the layer goes on the outermost router, so that the paths it
//! sees are the paths clients sent:
//!
//! ```
//! use axum::{Router, routing::get};
//! use winddown_core::Shutdown;
//! use winddown_http::{DrainLayer, Probe};
//!
//! let shutdown = Shutdown::builder().no_signals().build();
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route_service("/readyz", Probe::readiness(shutdown.clone()))
//!     .route_service("/healthz", Probe::liveness(shutdown.clone()))
//!     .layer(DrainLayer::new(shutdown.clone()));
//! ```
//!
//! With tower alone:
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use winddown_core::Shutdown;
//! use winddown_http::ServiceBuilderExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::builder().no_signals().build();
//! let service = ServiceBuilder::new()
//!     .drain_on_shutdown(shutdown.clone())
//!     .service(service_fn(|_: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!     }));
//!
//! shutdown.trigger();
//! tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
//! shutdown.draining().await;
//! let response = service.oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
//! # }
//! ```

mod builder;
pub mod drain;
pub mod probe;
pub mod sse;
#[cfg(feature = "ws")]
pub mod ws;

pub use builder::ServiceBuilderExt;
pub use drain::{Drain, DrainBody, DrainEnded, DrainLayer};
pub use probe::{Probe, ProbeKind};
