//! One accepted connection: served until it closes, is closed by a bound
//! (no first request in time, idle too long, evicted to make room), or the
//! shutdown is done; then closed without losing a request the client has
//! already sent.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep, sleep, timeout, timeout_at};
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

/// How long a connection closed before done (timeout, eviction) may take to
/// close by itself (the HTTP/2 GOAWAY exchange, the end of a response
/// being written) before it is dropped, if it still has no request in
/// progress and nothing was written for that long.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Where a connection stands before done.
enum Phase {
    Open,
    /// Asked to close; dropped at the end of the grace if still idle.
    Closing(Pin<Box<Sleep>>),
    /// Asked to close, with a request in progress: hyper closes after it.
    Finishing,
}

/// An accepted connection with what it needs to be served.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) activity: Arc<Activity>,
    pub(crate) entry: Entry,
    /// Accepted once shutdown had been triggered.
    pub(crate) after_trigger: bool,
}

/// Serves one connection until the client closes it, or:
///
/// - from the trigger on, HTTP/2 only: a graceful GOAWAY (the two-step
///   form of RFC 9113 §6.8, so no stream the client has opened is
///   refused), the HTTP/2 analog of the `Connection: close` HTTP/1
///   responses get while announcing. Streams already open complete, and
///   the connection closes when the last one ends. A connection open at
///   the trigger gets it at once (or as soon as its preface arrives); one
///   accepted later, once it has carried its first request, so that a
///   client is not sent away before being served once.
/// - before done, when it has no request in progress for too long (see
///   [`Limits`]) or is evicted: graceful close (HTTP/1: closed at once when
///   idle; HTTP/2: GOAWAY), and dropped if still without a request after
///   [`IDLE_CLOSE_GRACE`];
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
    triggered: Option<StateReached>,
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
        after_trigger,
    } = accepted;
    let service = TowerToHyperService::new(Tracked::new(service, activity.clone()));
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::pin!(done);

    let mut phase = Phase::Open;
    // `Some` until the trigger; then whether the GOAWAY has been sent.
    // `None` from the start when GOAWAY at the trigger is off.
    let goaway_at_trigger = triggered.is_some();
    let mut triggered = triggered;
    let mut goaway_sent = !goaway_at_trigger;
    loop {
        tokio::select! {
            biased;
            result = connection.as_mut() => {
                finished(peer, result);
                return;
            }
            () = &mut done => break,
            () = async {
                if let Some(triggered) = triggered.as_mut() {
                    triggered.await;
                }
            }, if triggered.is_some() => triggered = None,
            () = activity.http2_ready(after_trigger), if triggered.is_none() && !goaway_sent => {
                debug!(target: "winddown", %peer, "HTTP/2: graceful GOAWAY at the trigger");
                connection.as_mut().graceful_shutdown();
                goaway_sent = true;
            }
            reason = activity.close_requested(limits.header_read_timeout, limits.idle_timeout),
                if matches!(phase, Phase::Open) =>
            {
                debug!(target: "winddown", %peer, %reason, "closing the connection");
                // HTTP/1 idle between requests closes at once, HTTP/2 sends
                // GOAWAY, the auto-detection stops waiting for bytes. A
                // request that got in meanwhile is still answered.
                connection.as_mut().graceful_shutdown();
                phase = Phase::Closing(Box::pin(sleep(IDLE_CLOSE_GRACE)));
            }
            () = async {
                if let Phase::Closing(grace) = &mut phase {
                    grace.await;
                }
            }, if matches!(phase, Phase::Closing(_)) => {
                match activity.idle_for() {
                    Some(idle) if idle >= IDLE_CLOSE_GRACE => {
                        // Still nothing: a head that never ends, a preface
                        // never acknowledged, a reader that stopped.
                        debug!(target: "winddown", %peer, "connection dropped: it did not close");
                        return;
                    }
                    // Still writing out a response: look again later.
                    Some(idle) => {
                        phase = Phase::Closing(Box::pin(sleep(IDLE_CLOSE_GRACE - idle)));
                    }
                    // A request got in: hyper closes after its response.
                    None => phase = Phase::Finishing,
                }
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
