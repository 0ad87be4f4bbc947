//! One accepted connection: served until done, then closed without losing
//! a request the client has already sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, Version};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tower::Service;
use tracing::debug;
use winddown_core::{BoxError, StateReached};

/// How a connection is closed once the shutdown is done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClosePolicy {
    /// How long an HTTP/1 connection (or one that has not sent anything
    /// yet) may still deliver a request before it is closed.
    pub(crate) grace: Duration,
    /// The bound on closing, counted from done: what is still open then is
    /// dropped.
    pub(crate) timeout: Duration,
}

/// Serves one connection until the client closes it, or until `done` and
/// then the close policy:
///
/// - HTTP/2: GOAWAY at once (`graceful_shutdown`); the client retries
///   anything above the last stream id elsewhere, so nothing is lost.
/// - HTTP/1, or nothing received yet: every response now carries
///   `Connection: close`, after which hyper closes the connection. Wait up
///   to the grace for that (a request may already be on its way), then
///   close it if idle or once its current response is written.
/// - Everything is dropped at the close timeout.
pub(crate) async fn serve_connection<S, B>(
    builder: Arc<Builder<TokioExecutor>>,
    stream: TcpStream,
    peer: SocketAddr,
    service: S,
    done: StateReached,
    policy: ClosePolicy,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let http2 = Arc::new(AtomicBool::new(false));
    let service = TowerToHyperService::new(Tagged {
        inner: service,
        http2: http2.clone(),
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);

    tokio::select! {
        result = connection.as_mut() => {
            finished(peer, result);
            return;
        }
        () = done => {}
    }
    let deadline = Instant::now() + policy.timeout;
    if !http2.load(Ordering::Acquire)
        && let Ok(result) = timeout(policy.grace, connection.as_mut()).await
    {
        finished(peer, result);
        return;
    }
    connection.as_mut().graceful_shutdown();
    match timeout_at(deadline, connection).await {
        Ok(result) => finished(peer, result),
        Err(_) => debug!(target: "winddown", %peer, "connection dropped at the close timeout"),
    }
}

fn finished(peer: SocketAddr, result: Result<(), BoxError>) {
    match result {
        Ok(()) => debug!(target: "winddown", %peer, "connection closed"),
        Err(error) => debug!(target: "winddown", %peer, %error, "connection ended with an error"),
    }
}

/// Passes requests through, noting whether the connection speaks HTTP/2.
#[derive(Debug, Clone)]
pub(crate) struct Tagged<S> {
    inner: S,
    http2: Arc<AtomicBool>,
}

impl<S, R> Service<Request<R>> for Tagged<S>
where
    S: Service<Request<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<R>) -> Self::Future {
        if req.version() >= Version::HTTP_2 {
            self.http2.store(true, Ordering::Release);
        }
        self.inner.call(req)
    }
}
