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

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response, Version};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tower::Service;

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

impl Inner {
    /// Since when nothing has happened: no request, no write.
    fn quiet_since(&self) -> Instant {
        self.idle_since.max(self.last_write)
    }
}

#[derive(Debug)]
struct Inner {
    /// Requests in progress.
    active: usize,
    /// When `active` last became zero (at first: the accept).
    idle_since: Instant,
    /// When the server last wrote to the socket: a response body hyper
    /// has taken whole is still being written after the request ended.
    last_write: Instant,
    /// A request head or the HTTP/2 preface has been received.
    handshaken: bool,
    /// Asked to close to make room.
    evicted: bool,
}

/// The activity of one connection, shared by its task, its service and its
/// I/O, and seen by the server when it needs room.
#[derive(Debug)]
pub(crate) struct Activity {
    inner: Mutex<Inner>,
    /// Wakes the connection's task: it became idle, or was evicted.
    changed: Notify,
    /// The HTTP/2 connection preface has been received.
    http2_preface: AtomicBool,
    /// The connection has carried an HTTP/2 request.
    http2_request: AtomicBool,
    /// Wakes [`Activity::http2_ready`].
    http2_seen: Notify,
    /// The server's interest in connections going idle.
    idle_watch: Arc<IdleWatch>,
}

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
    pub(crate) fn new(idle_watch: Arc<IdleWatch>) -> Self {
        Activity {
            inner: Mutex::new(Inner {
                active: 0,
                idle_since: Instant::now(),
                last_write: Instant::now(),
                handshaken: false,
                evicted: false,
            }),
            changed: Notify::new(),
            http2_preface: AtomicBool::new(false),
            http2_request: AtomicBool::new(false),
            http2_seen: Notify::new(),
            idle_watch,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one is still
        // consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the connection speaks HTTP/2: its preface has arrived, or
    /// it has carried an HTTP/2 request.
    pub(crate) fn is_http2(&self) -> bool {
        self.http2_preface.load(Ordering::Acquire) || self.http2_request.load(Ordering::Acquire)
    }

    /// Resolves once the connection can take a graceful GOAWAY: once it has
    /// carried an HTTP/2 request or, unless `after_request`, once its
    /// HTTP/2 preface has arrived (hyper then sends the GOAWAY as soon as
    /// its handshake is over). Never resolves on HTTP/1. Cancel safe.
    pub(crate) async fn http2_ready(&self, after_request: bool) {
        loop {
            let seen = self.http2_seen.notified();
            tokio::pin!(seen);
            seen.as_mut().enable();
            if self.http2_request.load(Ordering::Acquire)
                || (!after_request && self.http2_preface.load(Ordering::Acquire))
            {
                return;
            }
            seen.await;
        }
    }

    fn request_started(&self, version: Version) -> RequestActive {
        if version >= Version::HTTP_2 && !self.http2_request.swap(true, Ordering::AcqRel) {
            self.http2_seen.notify_waiters();
        }
        let mut inner = self.lock();
        inner.active += 1;
        inner.handshaken = true;
        RequestActive(())
    }

    fn request_ended(&self) {
        let mut inner = self.lock();
        inner.active -= 1;
        if inner.active == 0 {
            inner.idle_since = Instant::now();
            drop(inner);
            self.changed.notify_one();
            self.idle_watch.notify();
        }
    }

    /// The HTTP/2 preface has arrived: the handshake is over.
    fn preface_received(&self) {
        self.lock().handshaken = true;
        self.http2_preface.store(true, Ordering::Release);
        self.http2_seen.notify_waiters();
    }

    fn wrote(&self) {
        self.lock().last_write = Instant::now();
    }

    /// If idle and not yet asked to close: since when it has been idle.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        let inner = self.lock();
        (inner.active == 0 && !inner.evicted).then(|| inner.quiet_since())
    }

    /// How long it has been idle: no request in progress and nothing
    /// written. `None` while a request is in progress.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        let inner = self.lock();
        (inner.active == 0).then(|| inner.quiet_since().elapsed())
    }

    /// Whether it was asked to close and has not closed yet.
    pub(crate) fn is_evicted(&self) -> bool {
        self.lock().evicted
    }

    /// Asks the connection to close (it is idle, see
    /// [`idle_since`](Self::idle_since)).
    pub(crate) fn evict(&self) {
        self.lock().evicted = true;
        self.changed.notify_one();
    }

    /// Resolves when the connection should close before done: idle past
    /// `handshake` before its first request head (or HTTP/2 preface), idle
    /// past `idle` after it, or evicted. `None` is no bound. Cancel safe.
    pub(crate) async fn close_requested(
        &self,
        handshake: Option<Duration>,
        idle: Option<Duration>,
    ) -> CloseReason {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let deadline = {
                let inner = self.lock();
                if inner.evicted {
                    return CloseReason::Evicted;
                }
                let (bound, reason) = if inner.handshaken {
                    (idle, CloseReason::Idle)
                } else {
                    (handshake, CloseReason::Handshake)
                };
                match bound {
                    Some(bound) if inner.active == 0 => {
                        inner.idle_since.checked_add(bound).map(|at| (at, reason))
                    }
                    _ => None,
                }
            };
            match deadline {
                Some((at, reason)) if Instant::now() >= at => return reason,
                Some((at, _)) => {
                    tokio::select! {
                        () = sleep_until(at) => {}
                        () = changed => {}
                    }
                }
                None => changed.await,
            }
        }
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
mod tests {
    use super::*;

    /// Feeds `chunks` to the preface matcher; whether it completed.
    fn complete(chunks: &[&[u8]]) -> bool {
        let mut matched = 0;
        for chunk in chunks {
            match advance(matched, chunk) {
                Preface::Partial(n) => matched = n,
                Preface::Complete => return true,
                Preface::NotHttp2 => return false,
            }
        }
        false
    }

    #[test]
    fn the_preface_is_recognised_in_any_split() {
        assert!(complete(&[PREFACE]));
        assert!(complete(&[&PREFACE[..3], &PREFACE[3..20], &PREFACE[20..]]));
        let mut with_settings = PREFACE.to_vec();
        with_settings.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        assert!(complete(&[&with_settings]));
        assert!(!complete(&[&PREFACE[..23]]));
        assert!(!complete(&[b"GET / HTTP/1.1\r\n\r\n"]));
        assert!(!complete(&[b"PRI * HTTP/1.1"]));
    }
}
