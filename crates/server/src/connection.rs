//! One accepted connection: served until it closes, is closed by a bound
//! (no first request in time, idle too long, evicted to make room), or the
//! shutdown is done; then closed without losing a request the client has
//! already sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
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

use crate::activity::{Activity, Tracked, TrackedIo};
use crate::limits::Limits;
use crate::registry::Entry;

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

/// An accepted connection with what it needs to be served.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) activity: Arc<Activity>,
    pub(crate) entry: Entry,
}

/// Serves one connection until the client closes it, or:
///
/// - before done, when it has no request in progress for too long (see
///   [`Limits`]) or is evicted: graceful close (HTTP/1: closed at once when
///   idle; HTTP/2: GOAWAY);
/// - at `done`, the close policy:
///   - HTTP/2: GOAWAY at once (`graceful_shutdown`); the client retries
///     anything above the last stream id elsewhere, so nothing is lost.
///   - HTTP/1, or nothing received yet: every response now carries
///     `Connection: close`, after which hyper closes the connection. Wait
///     up to the grace for that (a request may already be on its way), then
///     close it if idle or once its current response is written.
///   - Everything is dropped at the close timeout.
pub(crate) async fn serve_connection<S, B>(
    builder: Arc<Builder<TokioExecutor>>,
    accepted: Accepted,
    service: S,
    done: StateReached,
    policy: ClosePolicy,
    limits: Limits,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let Accepted {
        stream,
        peer,
        activity,
        entry: _entry,
    } = accepted;
    let service = TowerToHyperService::new(Tracked::new(service, activity.clone()));
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::pin!(done);

    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                finished(peer, result);
                return;
            }
            () = &mut done => break,
            reason = activity.close_requested(limits.header_read_timeout, limits.idle_timeout),
                if !closing =>
            {
                debug!(target: "winddown", %peer, %reason, "closing the connection");
                // Idle: HTTP/1 closes at once, HTTP/2 sends GOAWAY, a
                // connection still sending its preface or first head is
                // closed. A request that got in meanwhile is still answered.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }

    let deadline = Instant::now().checked_add(policy.timeout);
    if !activity.is_http2()
        && let Ok(result) = timeout(policy.grace, connection.as_mut()).await
    {
        finished(peer, result);
        return;
    }
    connection.as_mut().graceful_shutdown();
    let result = match deadline {
        Some(deadline) => timeout_at(deadline, connection).await,
        None => Ok(connection.await),
    };
    match result {
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
