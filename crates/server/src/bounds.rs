//! The bounds on what the server serves, spelled once.

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use tower::Service;
use winddown_core::BoxError;

/// A tower service the [`Server`](crate::Server) can serve: it takes hyper's
/// requests, answers with a [`ServerBody`], can be cloned for each
/// connection and sent across threads.
///
/// Implemented for every such service (an axum `Router`, a
/// `tower::service_fn`, a service wrapped in layers); name it in the bounds
/// of a function that hands a service on to the server.
///
/// # Examples
///
/// ```no_run
/// use tokio::net::TcpListener;
/// use winddown_core::Shutdown;
/// use winddown_server::{ServerBody, ServerService};
///
/// async fn serve_all<S, B>(service: S, shutdown: Shutdown) -> std::io::Result<()>
/// where
///     S: ServerService<B>,
///     B: ServerBody,
/// {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     winddown_server::serve(listener, service, shutdown).await
/// }
/// ```
pub trait ServerService<B>:
    Service<
        Request<Incoming>,
        Response = Response<B>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> ServerService<B> for S
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
}

/// A response body the [`Server`](crate::Server) can send: `Send`, with
/// `Send` data and errors that convert into a [`BoxError`].
///
/// Implemented for every such body; see [`ServerService`] for an example.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// fn sendable<B: winddown_server::ServerBody>() {}
/// sendable::<Full<Bytes>>();
/// ```
pub trait ServerBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> ServerBody for B
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
}
