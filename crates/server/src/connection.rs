//! One accepted connection: served until it closes, is closed by a bound
//! (no first request in time, idle too long, evicted to make room), or the
//! shutdown is done; then closed without losing a request the client has
//! already sent.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::debug;
use winddown_core::BoxError;

use crate::activity::{Activity, CloseCheck, Tracked, TrackedIo, event};
use crate::bounds::{ServerBody, ServerService};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// Asked to close; dropped at the end of the grace if still idle.
    Closing,
    /// Asked to close, with a request in progress: hyper closes after it.
    Finishing,
}

/// How serving a connection before done ended.
enum Served {
    /// The connection closed (or failed) by itself.
    Finished(Result<(), BoxError>),
    /// Closed before done and still not gone after the grace: dropped.
    Dropped,
    /// Shutdown is done: close by the [`ClosePolicy`].
    Done,
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
/// - HTTP/1, once draining has started: a response that ends then is the
///   connection's last (hyper's graceful shutdown right after it). A
///   response whose head went out before the trigger could not say
///   `Connection: close`; the next request on the connection would only be
///   refused, and a client whose stream ended at drain start (an event
///   stream telling `EventSource` to reconnect) must reconnect on a new
///   connection, which a load balancer sends elsewhere, not on this one,
///   where the refusal would make `EventSource` give up. A connection idle
///   when draining starts stays open (a request may be on its way): its
///   next request is answered `503` with `Connection: close`.
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
///
/// The trigger, done and evictions arrive as [events](crate::activity::event)
/// on the connection's [`Activity`], set by the server; the bounds are
/// checked by one timer, reset only when it fires. So a request costs the
/// task nothing beyond serving it: the connection is polled first, and the
/// rest is looked at only when an event or the timer woke the task.
pub(crate) async fn serve_connection<S, B>(
    builder: Arc<Builder<TokioExecutor>>,
    accepted: Accepted,
    service: S,
    policy: ClosePolicy,
    limits: Limits,
) where
    S: ServerService<B>,
    B: ServerBody,
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

    // The timer: polled with `timer_waker`, which marks `event::TIMER`, so
    // that it is polled again only once it fired (or is reset).
    let timer_waker = Waker::from(activity.clone());
    let timer = sleep_until(Instant::now());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    let mut phase = Phase::Open;
    let mut goaway_sent = false;
    let mut last_response_set = false;
    // The events already acted on; a look is due when others arrive.
    let mut seen = u8::MAX;

    let served = poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = connection.as_mut().poll(cx) {
                return Poll::Ready(Served::Finished(result));
            }
            activity.register(cx);
            let fired = activity.take_timer()
                && armed.is_some()
                && timer
                    .as_mut()
                    .poll(&mut Context::from_waker(&timer_waker))
                    .is_ready();
            let events = activity.events();
            if !fired && events == seen {
                return Poll::Pending;
            }
            seen = events;
            if fired {
                armed = None;
            }
            if events & event::DONE != 0 {
                return Poll::Ready(Served::Done);
            }
            // Acting on the connection needs it polled again: `acted`.
            let mut acted = false;
            if !goaway_sent
                && events & event::TRIGGERED != 0
                && (events & event::HTTP2_REQUEST != 0
                    || (!after_trigger && events & event::HTTP2_PREFACE != 0))
            {
                debug!(target: "winddown", %peer, "HTTP/2: graceful GOAWAY at the trigger");
                connection.as_mut().graceful_shutdown();
                goaway_sent = true;
                acted = true;
            }
            if !last_response_set
                && events & event::ENDED_WHILE_DRAINING != 0
                && !activity.is_http2()
            {
                last_response_set = true;
                // Right after the response: hyper closes once it is
                // written, or at once if it already is.
                debug!(target: "winddown", %peer, "HTTP/1: a response ended while draining; closing after it");
                connection.as_mut().graceful_shutdown();
                acted = true;
            }
            let next = match phase {
                Phase::Open => {
                    match activity.close_check(limits.header_read_timeout, limits.idle_timeout) {
                        CloseCheck::Close(reason) => {
                            debug!(target: "winddown", %peer, %reason, "closing the connection");
                            // HTTP/1 idle between requests closes at once,
                            // HTTP/2 sends GOAWAY, the auto-detection stops
                            // waiting for bytes. A request that got in
                            // meanwhile is still answered.
                            connection.as_mut().graceful_shutdown();
                            acted = true;
                            phase = Phase::Closing;
                            Instant::now().checked_add(IDLE_CLOSE_GRACE)
                        }
                        CloseCheck::At(at) => Some(at),
                        CloseCheck::Never => None,
                    }
                }
                Phase::Closing if fired => match activity.idle_for() {
                    Some(idle) if idle >= IDLE_CLOSE_GRACE => {
                        // Still nothing: a head that never ends, a preface
                        // never acknowledged, a reader that stopped.
                        return Poll::Ready(Served::Dropped);
                    }
                    // Still writing out a response: look again later.
                    Some(idle) => Instant::now().checked_add(IDLE_CLOSE_GRACE - idle),
                    // A request got in: hyper closes after its response.
                    None => {
                        phase = Phase::Finishing;
                        None
                    }
                },
                Phase::Closing => armed,
                Phase::Finishing => None,
            };
            if next != armed {
                armed = next;
                if let Some(at) = next {
                    timer.as_mut().reset(at);
                    // Registers the timer; fires at once if `at` has passed.
                    if timer
                        .as_mut()
                        .poll(&mut Context::from_waker(&timer_waker))
                        .is_ready()
                    {
                        activity.signal(event::TIMER);
                    }
                }
            }
            if !acted && activity.events() == seen && activity.events() & event::TIMER == 0 {
                return Poll::Pending;
            }
        }
    })
    .await;
    match served {
        Served::Finished(result) => return finished(peer, result),
        Served::Dropped => {
            debug!(target: "winddown", %peer, "connection dropped: it did not close");
            return;
        }
        Served::Done => {}
    }

    let now = Instant::now();
    let deadline = now.checked_add(policy.timeout);
    // The grace is inside the close timeout: a grace longer than the
    // timeout ends with it.
    let grace_end = match (now.checked_add(policy.grace), deadline) {
        (Some(grace_end), Some(deadline)) => Some(grace_end.min(deadline)),
        (grace_end, None) => grace_end,
        (None, deadline) => deadline,
    };
    if !activity.is_http2() {
        let waited = match grace_end {
            Some(grace_end) => timeout_at(grace_end, connection.as_mut()).await,
            None => Ok(connection.as_mut().await),
        };
        if let Ok(result) = waited {
            finished(peer, result);
            return;
        }
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
