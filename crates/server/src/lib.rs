//! Serve an axum `Router` or any tower HTTP service with winddown's
//! connection draining, over HTTP/1.1 and HTTP/2 (h2c with prior
//! knowledge), on hyper 1.x and hyper-util.
//!
//! What happens to the listener and the connections at each state of the
//! [`Shutdown`]:
//!
//! | state | listener | connections |
//! |---|---|---|
//! | running | accepting | served |
//! | announcing | accepting | served; HTTP/1 responses carry `Connection: close`, after which hyper closes the connection; HTTP/2 connections get a graceful GOAWAY at the trigger (those accepted later, after their first request), their open streams complete, and the client opens new streams elsewhere |
//! | draining, cleanup | accepting; the [`DrainLayer`](winddown_http::DrainLayer) answers `503` except for exempt routes | in-flight requests finish; at the drain deadline what still streams is cut by the layer and counted as abandoned |
//! | done | connections the kernel already queued are taken, then the listener closes (a connect is refused) | HTTP/2: GOAWAY (if not sent yet). HTTP/1: closed after a response with `Connection: close`, or when still idle after a short grace (a request may be on its way). Everything is dropped at the close timeout |
//!
//! [`serve`] returns when every connection is gone, so it is the future to
//! pass to [`Shutdown::run_until`]. Bounds: [`Server::close_grace`] and
//! [`Server::close_timeout`].
//!
//! Before done, connections are held to bounds that keep idle or
//! half-open sockets from piling up (defaults in brackets):
//! [`Server::header_read_timeout`] (10 s to the first request head or the
//! HTTP/2 preface), [`Server::idle_timeout`] (75 s without a request in
//! progress), HTTP/2 keep-alive pings ([`Server::http2_keep_alive_interval`],
//! 20 s, answered within 20 s), and an optional
//! [`Server::max_connections`]. When the limit is reached, or `accept`
//! fails for lack of file descriptors, the connection idle the longest is
//! closed to make room (never one with a request in progress), so probes
//! still get in; accepting pauses instead of spinning.
//!
//! A listening socket that outlives the process (systemd socket
//! activation): [`Server::listener_outlives_process`] stops accepting at
//! the trigger and leaves queued connections in the backlog for the next
//! instance.
//!
//! Upgrades (WebSockets) are supported; an upgraded connection belongs to
//! the handler that took it over. With axum, wrap the socket in
//! `winddown_http::ws::DrainingWebSocket` (feature `ws`): the drain waits
//! for it, it is closed with `1001` when draining starts and cut when the
//! drain ends. Otherwise run it with [`Shutdown::spawn`] (the drain waits
//! for it) and stop it on [`Shutdown::drain_ended`].
//!
//! # Examples
//!
//! ```
//! use axum::{Router, routing::get};
//! use winddown_core::Shutdown;
//! use winddown_http::{DrainLayer, Probe};
//!
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let shutdown = Shutdown::builder().no_signals().build();
//! let app = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route_service("/readyz", Probe::readiness(shutdown.clone()))
//!     .route_service("/healthz", Probe::liveness(shutdown.clone()))
//!     .layer(DrainLayer::new(shutdown.clone()));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # shutdown.trigger(); // here, to stop at once
//! let report = shutdown
//!     .run_until(winddown_server::serve(listener, app, shutdown.clone()))
//!     .await;
//! assert_eq!(report.exit_code(), 0);
//! # Ok(())
//! # }
//! ```

mod activity;
mod bounds;
mod connection;
mod limits;
mod outlive;
mod registry;
mod server;

use std::io;

use bytes::Bytes;
use tokio::net::TcpListener;
use winddown_core::Shutdown;

pub use bounds::{ServerBody, ServerService};
pub use server::Server;

/// Serves `service` on `listener` until `shutdown` is done and every
/// connection is closed; [`Server::new`]`(shutdown).serve(..)`.
///
/// The service is used as it is: give it a
/// [`DrainLayer`](winddown_http::DrainLayer), or use [`serve_with_drain`].
/// See the [crate docs](crate) for an example.
pub async fn serve<S, B>(listener: TcpListener, service: S, shutdown: Shutdown) -> io::Result<()>
where
    S: ServerService<B>,
    B: ServerBody,
{
    Server::new(shutdown).serve(listener, service).await
}

/// Like [`serve`], with a [`DrainLayer`](winddown_http::DrainLayer)
/// (default settings) applied to `service`.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use hyper::body::Incoming;
/// use winddown_core::Shutdown;
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let shutdown = Shutdown::builder().no_signals().build();
/// let service = tower::service_fn(|_: Request<Incoming>| async {
///     Ok::<_, Infallible>(Response::new(String::from("hello")))
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # shutdown.trigger();
/// let report = shutdown
///     .run_until(winddown_server::serve_with_drain(listener, service, shutdown.clone()))
///     .await;
/// # assert_eq!(report.exit_code(), 0);
/// # Ok(())
/// # }
/// ```
pub async fn serve_with_drain<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: Shutdown,
) -> io::Result<()>
where
    S: ServerService<B>,
    B: ServerBody<Data: From<Bytes>>,
{
    Server::new(shutdown)
        .serve_with_drain(listener, service)
        .await
}
