//! End server-sent event streams cleanly when draining starts.
//!
//! An event stream never ends by itself, so without help it holds the drain
//! open until the drain timeout cuts it, and the client sees a broken
//! response. [`EndOnDrain`] wraps the response body of an event stream (any
//! `http_body::Body` carrying `text/event-stream`, such as the body of
//! axum's `Sse`): when draining starts it sends one last event carrying a
//! `retry:` field (the reconnection delay, by default 5 s) and ends the
//! body, which ends the response cleanly (the terminating chunk on
//! HTTP/1.1, an end of stream on HTTP/2). An `EventSource` then reconnects
//! after that delay, to another replica: by the time draining starts, load
//! balancers have stopped sending new connections to this one (that is what
//! announcing is for).
//!
//! Under a [`DrainLayer`](crate::DrainLayer) the request ends with the
//! body, like any response that completed: it is not counted as cut or
//! abandoned, and the drain need not wait for its timeout.
//!
//! The body is ended between two frames of the inner body: have each frame
//! carry whole events (axum's `Sse` does).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http::Response;
//! use http_body_util::{BodyExt, StreamBody};
//! use http_body::Frame;
//! use winddown_core::Shutdown;
//! use winddown_http::sse::EndOnDrain;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::builder().no_signals().build();
//! // An endless event stream.
//! let ticks = futures_util::stream::repeat_with(|| {
//!     Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from("data: tick\n\n")))
//! });
//! let body = EndOnDrain::new(StreamBody::new(ticks), &shutdown)
//!     .retry(Duration::from_secs(2));
//! let response = Response::builder()
//!     .header("content-type", "text/event-stream")
//!     .body(body)
//!     .unwrap();
//!
//! shutdown.trigger();
//! tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
//! shutdown.draining().await;
//! // The stream ends cleanly, with the reconnection hint last.
//! let text = response.into_body().collect().await.unwrap().to_bytes();
//! assert!(text.ends_with(b"retry: 2000\n\n"));
//! # }
//! ```
//!
//! With axum, wrap the body of the `Sse` response:
//!
//! ```
//! use axum::response::{IntoResponse, Response, sse::{Event, Sse}};
//! use winddown_core::Shutdown;
//! use winddown_http::sse::EndOnDrain;
//!
//! async fn events(shutdown: Shutdown) -> Response {
//!     let stream = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
//!         Event::default().data("hello"),
//!     )]);
//!     Sse::new(stream)
//!         .into_response()
//!         .map(|body| axum::body::Body::new(EndOnDrain::new(body, &shutdown)))
//! }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use winddown_core::{Shutdown, StateReached};

/// The default reconnection delay sent to clients.
const DEFAULT_RETRY: Duration = Duration::from_secs(5);

pin_project! {
    /// A `text/event-stream` response body that ends cleanly, with a last
    /// event carrying `retry:`, when draining starts.
    ///
    /// See the [module docs](self) for an example.
    pub struct EndOnDrain<B> {
        #[pin]
        inner: B,
        draining: StateReached,
        retry: Duration,
        state: Stage,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Streaming,
    Ended,
}

impl<B> EndOnDrain<B> {
    /// Wraps `body`, an event stream, to end when `shutdown` starts
    /// draining (at once if it already has), telling clients to reconnect
    /// after 5 s.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http_body_util::{BodyExt, Full};
    /// use winddown_core::Shutdown;
    /// use winddown_http::sse::EndOnDrain;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let events = Full::new(Bytes::from("data: 1\n\n"));
    /// let mut body = EndOnDrain::new(events, &shutdown);
    /// let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    /// assert_eq!(first, "data: 1\n\n");
    /// # }
    /// ```
    pub fn new(body: B, shutdown: &Shutdown) -> Self {
        EndOnDrain {
            inner: body,
            draining: shutdown.draining(),
            retry: DEFAULT_RETRY,
            state: Stage::Streaming,
        }
    }

    /// The reconnection delay sent in the last event (`retry:` in
    /// milliseconds; default 5 s). Any duration is accepted; it is sent
    /// rounded down to the millisecond, at most `u64::MAX` ms.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let body = winddown_http::sse::EndOnDrain::new(http_body_util::Empty::<bytes::Bytes>::new(), &shutdown)
    ///     .retry(Duration::from_millis(1500));
    /// ```
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }
}

/// The event sent last: a comment saying why, and the `retry:` field.
fn last_event(retry: Duration) -> Bytes {
    let ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
    Bytes::from(format!(
        ": server shutting down, reconnect\nretry: {ms}\n\n"
    ))
}

impl<B> Body for EndOnDrain<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.state == Stage::Ended {
            return Poll::Ready(None);
        }
        let this = self.project();
        if Pin::new(&mut *this.draining).poll(cx).is_ready() {
            *this.state = Stage::Ended;
            return Poll::Ready(Some(Ok(Frame::data(last_event(*this.retry).into()))));
        }
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            *this.state = Stage::Ended;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.state == Stage::Ended
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            Stage::Ended => SizeHint::with_exact(0),
            // The last event may be added.
            Stage::Streaming => SizeHint::default(),
        }
    }
}

impl<B> fmt::Debug for EndOnDrain<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndOnDrain")
            .field("retry", &self.retry)
            .field("ended", &(self.state == Stage::Ended))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
