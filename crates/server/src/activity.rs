//! What one connection is doing: how many requests it has in progress,
//! since when it has been idle, whether it has completed its handshake, and
//! whether the server asked it to close to make room.
//!
//! A request is in progress from the call of the service until its response
//! body has been fully sent or dropped; a connection with none, to which
//! the server is not writing either, is idle, whether it waits for its
//! first bytes, is reading a request head, or keeps alive between requests.
//! (The writes count because hyper may take a whole body at once and write
//! it out after the request has ended.) Idle connections are the ones
//! closed by the timeouts and, under pressure, to make room: closing one
//! never cuts a response that is making progress.
//!
//! Everything here is lock-free, and a request wakes no one: the
//! connection's task looks at the figures only when its timer fires or an
//! [event](Activity::signal) arrives (see `connection.rs`), so the bounds
//! cost a few atomic operations and one clock read per request (taken by
//! the write that sends the response, see [`UNTIMED`]).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, ready};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::Service;
use winddown_core::{Shutdown, State};

/// Events a connection's task reacts to, as bits of [`Activity::events`].
pub(crate) mod event {
    /// Shutdown was triggered (sent only with GOAWAY at the trigger on).
    pub(crate) const TRIGGERED: u8 = 1;
    /// Shutdown is done.
    pub(crate) const DONE: u8 = 1 << 1;
    /// Asked to close to make room.
    pub(crate) const EVICTED: u8 = 1 << 2;
    /// The connection's timer fired (cleared when taken).
    pub(crate) const TIMER: u8 = 1 << 3;
    /// The first request head or the HTTP/2 preface has been received.
    pub(crate) const HANDSHAKEN: u8 = 1 << 4;
    /// The HTTP/2 connection preface has been received.
    pub(crate) const HTTP2_PREFACE: u8 = 1 << 5;
    /// The connection has carried an HTTP/2 request.
    pub(crate) const HTTP2_REQUEST: u8 = 1 << 6;
    /// A response ended once draining had started: on HTTP/1 it is the
    /// connection's last.
    pub(crate) const ENDED_WHILE_DRAINING: u8 = 1 << 7;
}

/// Why a connection is closed before done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// No complete first request head (or HTTP/2 preface) in time.
    Handshake,
    /// Idle for the idle timeout.
    Idle,
    /// Closed to make room (connection limit, or out of descriptors).
    Evicted,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::Handshake => "no request head within the header read timeout",
            CloseReason::Idle => "idle for the idle timeout",
            CloseReason::Evicted => "idle, closed to make room for a new connection",
        })
    }
}

/// What [`Activity::close_check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseCheck {
    /// Close now.
    Close(CloseReason),
    /// Nothing to do before this instant: look again then.
    At(Instant),
    /// No bound applies (until an event changes that).
    Never,
}

/// The activity of one connection, shared by its task, its service and its
/// I/O, and seen by the server when it needs room.
///
/// Instants are kept as nanoseconds after `born` (the accept), so that they
/// fit in atomics.
pub(crate) struct Activity {
    born: Instant,
    /// Requests in progress.
    active: AtomicUsize,
    /// When a request last ended (at first: the accept), or [`UNTIMED`]:
    /// a request ended and the time has not been read yet. Only moves
    /// forward, and is written before the count goes down, so whoever sees
    /// the count at zero sees the last request's end.
    idle_since: AtomicU64,
    /// When the server last wrote to the socket with no request in
    /// progress: a response body hyper has taken whole is still being
    /// written after the request ended.
    last_write: AtomicU64,
    /// [`event`] bits.
    events: AtomicU8,
    /// The connection's task, woken by [`signal`](Self::signal).
    task: AtomicWaker,
    /// The server's interest in connections going idle.
    idle_watch: Arc<IdleWatch>,
    /// Read when a request ends: one that ends once draining has started
    /// signals [`event::ENDED_WHILE_DRAINING`].
    shutdown: Shutdown,
}

/// [`Activity::idle_since`] for "a request has just ended": the clock is
/// read by whoever needs the time next. That is nearly always the write
/// that sends the response's last bytes, which reads the clock anyway, so a
/// request costs one clock read instead of two; when no write follows,
/// whoever looks at the connection next takes its own time, which is later
/// than the end: the connection counts as idle from then, never from
/// earlier.
const UNTIMED: u64 = u64::MAX;

/// Lets the accept loop, when it is at its connection limit with nothing
/// idle to close, wait until some connection goes idle.
#[derive(Debug, Default)]
pub(crate) struct IdleWatch {
    wanted: AtomicBool,
    notify: Notify,
}

impl IdleWatch {
    /// From now on, a connection going idle wakes [`went_idle`](Self::went_idle).
    pub(crate) fn want(&self) {
        self.wanted.store(true, Ordering::SeqCst);
    }

    /// No more wake-ups needed: requests end without touching the watch.
    pub(crate) fn unwant(&self) {
        self.wanted.store(false, Ordering::Relaxed);
    }

    /// Resolves once a connection went idle after [`want`](Self::want).
    /// Cancel safe.
    pub(crate) async fn went_idle(&self) {
        self.notify.notified().await;
    }

    fn notify(&self) {
        if self.wanted.load(Ordering::SeqCst) {
            // A stored permit: a wake-up between two polls is not lost.
            self.notify.notify_one();
        }
    }
}

impl Activity {
    /// A connection accepted now, with `events` already set (the
    /// shutdown's progress so far).
    pub(crate) fn new(idle_watch: Arc<IdleWatch>, events: u8, shutdown: Shutdown) -> Self {
        Activity {
            shutdown,
            born: Instant::now(),
            active: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            events: AtomicU8::new(events),
            task: AtomicWaker::new(),
            idle_watch,
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.born).as_nanos())
            .unwrap_or(u64::MAX)
            .min(UNTIMED - 1)
    }

    /// When the last request ended: [`idle_since`](Self::idle_since),
    /// timed now if it was not yet.
    fn ended_at(&self) -> u64 {
        let idle_since = self.idle_since.load(Ordering::SeqCst);
        if idle_since != UNTIMED {
            return idle_since;
        }
        let now = self.nanos(Instant::now());
        match self
            .idle_since
            .compare_exchange(UNTIMED, now, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => now,
            // Timed by someone else meanwhile (a failed exchange never
            // reads `UNTIMED`).
            Err(timed) => timed,
        }
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.born + Duration::from_nanos(nanos)
    }

    /// The [`event`] bits set so far.
    #[inline]
    pub(crate) fn events(&self) -> u8 {
        self.events.load(Ordering::Acquire)
    }

    /// Sets `bits` and wakes the connection's task.
    pub(crate) fn signal(&self, bits: u8) {
        self.events.fetch_or(bits, Ordering::AcqRel);
        self.task.wake();
    }

    /// Whether the timer fired since the last call; clears the mark.
    pub(crate) fn take_timer(&self) -> bool {
        self.events() & event::TIMER != 0
            && self.events.fetch_and(!event::TIMER, Ordering::AcqRel) & event::TIMER != 0
    }

    /// The task [`signal`](Self::signal) wakes.
    #[inline]
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.task.register(cx.waker());
    }

    /// Whether the connection speaks HTTP/2: its preface has arrived, or
    /// it has carried an HTTP/2 request.
    pub(crate) fn is_http2(&self) -> bool {
        self.events() & (event::HTTP2_PREFACE | event::HTTP2_REQUEST) != 0
    }

    #[inline]
    fn request_started(&self, version: Version) -> RequestActive {
        self.active.fetch_add(1, Ordering::SeqCst);
        let mut first = 0;
        let events = self.events();
        if events & event::HANDSHAKEN == 0 {
            first |= event::HANDSHAKEN;
        }
        if version >= Version::HTTP_2 && events & event::HTTP2_REQUEST == 0 {
            first |= event::HTTP2_REQUEST;
        }
        if first != 0 {
            // Once per connection: the bounds and the GOAWAY change.
            self.signal(first);
        }
        RequestActive(())
    }

    #[inline]
    fn request_ended(&self) {
        // The mark first, then the count: see `idle_since`. The time is
        // read later, see `UNTIMED`.
        self.idle_since.store(UNTIMED, Ordering::Release);
        // Read from the shutdown itself, not from an event the server sends:
        // a response that ends because draining started (an event stream
        // ending cleanly) must see it.
        if self.shutdown.state() >= State::Draining {
            self.signal(event::ENDED_WHILE_DRAINING);
        }
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle_watch.notify();
        }
    }

    /// The HTTP/2 preface has arrived: the handshake is over.
    fn preface_received(&self) {
        self.signal(event::HANDSHAKEN | event::HTTP2_PREFACE);
    }

    #[inline]
    fn wrote(&self) {
        // A write with a request in progress is covered by the request.
        if self.active.load(Ordering::SeqCst) == 0 {
            let now = self.nanos(Instant::now());
            self.last_write.fetch_max(now, Ordering::Relaxed);
            // The count was zero, so a request that ended before is marked
            // by now: this write, which follows its end, times it.
            if self.idle_since.load(Ordering::Relaxed) == UNTIMED {
                let _ = self.idle_since.compare_exchange(
                    UNTIMED,
                    now,
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// Since when nothing has happened (no request, no write), if no
    /// request is in progress.
    fn quiet_since(&self) -> Option<Instant> {
        if self.active.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let idle_since = self.ended_at();
        let last_write = self.last_write.load(Ordering::Relaxed);
        Some(self.instant(idle_since.max(last_write)))
    }

    /// If idle and not yet asked to close: since when it has been idle.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        if self.is_evicted() {
            return None;
        }
        self.quiet_since()
    }

    /// How long it has been idle: no request in progress and nothing
    /// written. `None` while a request is in progress.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        Some(self.quiet_since()?.elapsed())
    }

    /// Whether it was asked to close and has not closed yet.
    pub(crate) fn is_evicted(&self) -> bool {
        self.events() & event::EVICTED != 0
    }

    /// Asks the connection to close (it is idle, see
    /// [`idle_since`](Self::idle_since)).
    pub(crate) fn evict(&self) {
        self.signal(event::EVICTED);
    }

    /// Whether the connection should close before done: idle past
    /// `handshake` before its first request head (or HTTP/2 preface), idle
    /// past `idle` after it, or evicted; if not, when to look again. `None`
    /// is no bound.
    pub(crate) fn close_check(
        &self,
        handshake: Option<Duration>,
        idle: Option<Duration>,
    ) -> CloseCheck {
        let events = self.events();
        if events & event::EVICTED != 0 {
            return CloseCheck::Close(CloseReason::Evicted);
        }
        let (bound, reason) = if events & event::HANDSHAKEN != 0 {
            (idle, CloseReason::Idle)
        } else {
            (handshake, CloseReason::Handshake)
        };
        let Some(bound) = bound else {
            return CloseCheck::Never;
        };
        let now = Instant::now();
        if self.active.load(Ordering::SeqCst) != 0 {
            // A request in progress ends after now: the connection cannot
            // have been idle for `bound` before now + bound.
            return now
                .checked_add(bound)
                .map_or(CloseCheck::Never, CloseCheck::At);
        }
        let since = self.instant(self.ended_at());
        match since.checked_add(bound) {
            Some(at) if at <= now => CloseCheck::Close(reason),
            Some(at) => CloseCheck::At(at),
            None => CloseCheck::Never,
        }
    }
}

/// The connection's timer wakes its task through this, marking
/// [`event::TIMER`], so that the task polls the timer only when it fired.
impl Wake for Activity {
    fn wake(self: Arc<Self>) {
        self.signal(event::TIMER);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.signal(event::TIMER);
    }
}

impl fmt::Debug for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Activity")
            .field("active", &self.active.load(Ordering::Relaxed))
            .field("events", &self.events())
            .finish_non_exhaustive()
    }
}

/// One request in progress; ends it when dropped.
#[derive(Debug)]
struct RequestActive(());

/// [`RequestActive`] with its connection.
#[derive(Debug)]
struct ActiveGuard {
    activity: Arc<Activity>,
    _request: RequestActive,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.activity.request_ended();
    }
}

/// Passes requests through, keeping the connection's [`Activity`] up to
/// date: a request is in progress until its response body ends.
#[derive(Debug, Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S, R, B> Service<Request<R>> for Tracked<S>
where
    S: Service<Request<R>, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<R>) -> Self::Future {
        let request = self.activity.request_started(req.version());
        let guard = ActiveGuard {
            activity: self.activity.clone(),
            _request: request,
        };
        TrackedFuture {
            inner: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

pin_project! {
    /// Response future of [`Tracked`]: hands the guard to the body.
    #[derive(Debug)]
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        guard: Option<ActiveGuard>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx));
        // An error drops the guard: the request is over.
        let guard = this.guard.take();
        Poll::Ready(response.map(|r| r.map(|body| TrackedBody { inner: body, guard })))
    }
}

pin_project! {
    /// Response body of [`Tracked`]: the request is in progress until it
    /// ends or is dropped.
    #[derive(Debug)]
    pub(crate) struct TrackedBody<B> {
        #[pin]
        inner: B,
        guard: Option<ActiveGuard>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.guard.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The connection's socket, noting when the HTTP/2 preface has arrived: for
/// HTTP/2 that is the end of the handshake (for HTTP/1 it is the first
/// request head, noted by [`Tracked`]).
#[derive(Debug)]
pub(crate) struct TrackedIo {
    stream: TcpStream,
    /// How many bytes of the preface matched so far; `None` once it is
    /// complete or did not match.
    preface: Option<usize>,
    activity: Arc<Activity>,
}

impl TrackedIo {
    pub(crate) fn new(stream: TcpStream, activity: Arc<Activity>) -> Self {
        TrackedIo {
            stream,
            preface: Some(0),
            activity,
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        let Some(matched) = self.preface else { return };
        self.preface = match advance(matched, bytes) {
            Preface::Partial(n) => Some(n),
            Preface::Complete => {
                self.activity.preface_received();
                None
            }
            Preface::NotHttp2 => None,
        };
    }
}

/// Where the preface stands after some bytes.
#[derive(Debug, PartialEq, Eq)]
enum Preface {
    Partial(usize),
    Complete,
    NotHttp2,
}

/// The preface's state after `bytes`, `matched` bytes of it having been
/// seen before.
fn advance(matched: usize, bytes: &[u8]) -> Preface {
    let want = &PREFACE[matched..];
    let n = bytes.len().min(want.len());
    if bytes[..n] != want[..n] {
        Preface::NotHttp2
    } else if matched + n == PREFACE.len() {
        Preface::Complete
    } else {
        Preface::Partial(matched + n)
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if self.preface.is_some() {
            self.saw(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write(cx, buf))?;
        self.activity.wrote();
        Poll::Ready(Ok(written))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, bufs))?;
        self.activity.wrote();
        Poll::Ready(Ok(written))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
