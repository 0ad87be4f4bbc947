use std::error::Error;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use winddown_core::BoxError;

use winddown_core::Admission;

use super::cut::Cut;
use super::grpc::{self, Dialect};

/// The error a response body ends with when the drain ended while it was
/// still streaming (an endless event stream, a long poll).
///
/// hyper answers a body error by aborting the HTTP/1 connection or
/// resetting the HTTP/2 stream, so the client sees the response cut short
/// rather than a clean end. Find it in a body error with
/// `error.is::<DrainEnded>()`. A native gRPC call's body over HTTP/2 is not
/// cut with it: it ends with `grpc-status: 14` (`UNAVAILABLE`) trailers
/// instead.
///
/// # Examples
///
/// ```
/// use winddown_http::DrainEnded;
/// let error: winddown_core::BoxError = DrainEnded::default().into();
/// assert!(error.is::<DrainEnded>());
/// assert!(error.to_string().contains("drain ended"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DrainEnded;

impl fmt::Display for DrainEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "response cut: the shutdown drain ended while the body was still streaming \
             (raise the drain timeout to let such responses finish)",
        )
    }
}

impl Error for DrainEnded {}

pin_project! {
    /// The response body of [`Drain`](super::Drain).
    ///
    /// For a counted request it holds the request's admission (its place in
    /// flight) until the body has ended (or given its trailers) or is
    /// dropped, and it ends the body with a [`DrainEnded`] error if the
    /// drain ends first (a native gRPC call's body over HTTP/2 with
    /// `UNAVAILABLE` trailers). For a 503 it is the
    /// short plain-text message; for a gRPC refusal it is empty.
    ///
    /// See the [module docs](super) for an example.
    //
    // Plain `Option`s for the inner body and the admission rather than an
    // enum of the kinds of body: the inner body stays as cheap to move and
    // poll as it is, and ending a counted body is dropping its admission in
    // place, not replacing a tag. Only the cold parts share a tagged field.
    pub struct DrainBody<B> {
        // The served body; `None` for a refusal, and once a counted body
        // has ended, failed or been cut.
        #[pin]
        inner: Option<B>,
        // A counted request's place in flight, until its body ends.
        admission: Option<Admission>,
        // How a cut ends it, and the watch for the drain's end; or a
        // refusal's message.
        side: Side,
    }
}

impl<B> DrainBody<B> {
    /// The body of a served request: tracked if it was counted; a cut
    /// ends it with `UNAVAILABLE` trailers if it is a native gRPC call.
    #[inline]
    pub(crate) fn new(body: B, admission: Option<Admission>, cut: Cut, grpc: bool) -> Self {
        DrainBody {
            inner: Some(body),
            admission,
            side: if grpc {
                Side::Grpc(cut)
            } else {
                Side::Served(cut)
            },
        }
    }

    /// The 503's text.
    fn message(text: Bytes) -> Self {
        DrainBody {
            inner: None,
            admission: None,
            side: Side::Message(Text::new(text)),
        }
    }

    /// A message body without data: it has already ended.
    fn message_ended() -> Self {
        DrainBody {
            inner: None,
            admission: None,
            side: Side::Served(Cut::default()),
        }
    }

    /// Whether this body holds a request in flight (it has not ended yet).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bytes::Bytes;
    /// use http::{Request, Response};
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{ServiceExt, service_fn};
    /// use winddown_core::Shutdown;
    /// use winddown_http::Drain;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let service = Drain::new(
    ///     service_fn(|_req: Request<Full<Bytes>>| async {
    ///         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    ///     }),
    ///     shutdown.clone(),
    /// );
    /// let mut body = service.oneshot(Request::new(Full::default())).await.unwrap().into_body();
    /// // The handler has answered, but the body is not sent yet.
    /// assert!(body.is_in_flight());
    /// assert_eq!(shutdown.in_flight_count(), 1);
    ///
    /// let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
    /// assert_eq!(data, "hello");
    /// assert!(body.frame().await.is_none());
    /// assert!(!body.is_in_flight());
    /// assert_eq!(shutdown.in_flight_count(), 0);
    /// # }
    /// ```
    pub fn is_in_flight(&self) -> bool {
        self.admission.is_some()
    }
}

/// Ends a counted body that failed or was cut: the inner body is not
/// polled again, and the request leaves the count.
#[cold]
#[inline(never)]
fn end<B>(mut inner: Pin<&mut Option<B>>, admission: &mut Option<Admission>) {
    inner.set(None);
    *admission = None;
}

/// What a [`DrainBody`] holds besides its inner body and admission: a
/// tag and a pointer, no larger than the two optional pointers it replaces,
/// so that telling gRPC calls apart costs a served body nothing.
enum Side {
    /// A served body, with the watch for the drain's end: a cut ends it
    /// with a [`DrainEnded`] error.
    Served(Cut),
    /// A served native gRPC call: a cut ends it with `UNAVAILABLE`
    /// trailers, the status gRPC clients read as "try another server",
    /// instead of the reset stream (`INTERNAL`) a body error becomes.
    Grpc(Cut),
    /// A refusal's message, not sent yet.
    Message(Text),
}

/// A refusal's message (boxed, to keep [`Side`] two words). Dropped out of
/// line, so that dropping a served body stays a few inline tests.
struct Text(Option<Box<Bytes>>);

impl Text {
    fn new(text: Bytes) -> Self {
        Text(Some(Box::new(text)))
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |text| text.len())
    }
}

impl Drop for Text {
    #[inline]
    fn drop(&mut self) {
        if let Some(text) = self.0.take() {
            release(text);
        }
    }
}

#[cold]
#[inline(never)]
fn release(text: Box<Bytes>) {
    drop(text);
}

impl Side {
    /// The watch for the drain's end of a served body.
    fn watch(&mut self) -> Option<&mut Cut> {
        match self {
            Side::Served(cut) | Side::Grpc(cut) => Some(cut),
            Side::Message(_) => None,
        }
    }
}

/// What a [`DrainBody`] gives.
type Polled<D> = Poll<Option<Result<Frame<D>, BoxError>>>;

/// Ends a counted body because the drain ended: with a [`DrainEnded`]
/// error, or for a gRPC call with `UNAVAILABLE` trailers (after which the
/// body has ended).
#[cold]
#[inline(never)]
fn cut<B, D>(
    inner: Pin<&mut Option<B>>,
    admission: &mut Option<Admission>,
    side: &mut Side,
) -> Polled<D> {
    end(inner, admission);
    if matches!(side, Side::Grpc(_)) {
        // Sent once: the body has ended.
        *side = Side::Served(Cut::default());
        return Poll::Ready(Some(Ok(Frame::trailers(grpc::cut_trailers()))));
    }
    Poll::Ready(Some(Err(DrainEnded.into())))
}

/// The drain ended before this poll of a counted body: a body that says
/// it has ended (`is_end_stream`: it gave its last frame on an earlier
/// poll) ends as it would have, so a gRPC call that gave its own status
/// keeps it; anything else is cut. The inner body is not polled again: an
/// end it gave now could have come from the drain's end itself (a producer
/// task aborted or stopped by it), and must not look like a complete
/// response.
#[cold]
#[inline(never)]
fn drain_ended<B>(
    inner: Pin<&mut Option<B>>,
    admission: &mut Option<Admission>,
    side: &mut Side,
) -> Polled<B::Data>
where
    B: Body,
{
    if inner
        .as_ref()
        .get_ref()
        .as_ref()
        .is_some_and(Body::is_end_stream)
    {
        end(inner, admission);
        return Poll::Ready(None);
    }
    cut(inner, admission, side)
}

/// What polling the inner body gives.
type InnerPolled<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// A counted body's inner body failed, or is pending: out of line, so that
/// the common path (a frame, or the end) stays small enough to be inlined
/// into the caller's loop.
#[cold]
#[inline(never)]
fn not_a_frame<B>(
    polled: InnerPolled<B>,
    inner: Pin<&mut Option<B>>,
    admission: &mut Option<Admission>,
    side: &mut Side,
    cx: &mut Context<'_>,
) -> Polled<B::Data>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    match polled {
        Poll::Ready(Some(Err(error))) => {
            end(inner, admission);
            Poll::Ready(Some(Err(error.into())))
        }
        Poll::Pending => {
            let (Some(held), Some(watch)) = (admission.as_ref(), side.watch()) else {
                return Poll::Pending;
            };
            if watch.poll_ended(held, cx).is_ready() {
                return cut(inner, admission, side);
            }
            Poll::Pending
        }
        // The frames and the end are handled by the caller.
        Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
        Poll::Ready(None) => Poll::Ready(None),
    }
}

/// The frames of an exempt body, a refusal's message, or an ended body.
#[cold]
#[inline(never)]
fn poll_other<B>(
    inner: Pin<&mut Option<B>>,
    side: &mut Side,
    cx: &mut Context<'_>,
) -> Polled<B::Data>
where
    B: Body,
    B::Data: From<Bytes>,
    B::Error: Into<BoxError>,
{
    if let Some(body) = inner.as_pin_mut() {
        return body.poll_frame(cx).map_err(Into::into);
    }
    match std::mem::replace(side, Side::Served(Cut::default())) {
        Side::Message(mut text) => match text.0.take() {
            Some(text) => Poll::Ready(Some(Ok(Frame::data((*text).into())))),
            None => Poll::Ready(None),
        },
        // A body that ended, failed or was cut.
        Side::Served(_) | Side::Grpc(_) => Poll::Ready(None),
    }
}

/// The 503 answered while draining, or to a handler still pending when the
/// drain ended; for gRPC, a trailers-only `UNAVAILABLE` status instead.
#[cold]
#[inline(never)]
pub(crate) fn rejection<B>(dialect: Dialect, retry_secs: u64) -> Response<DrainBody<B>> {
    if let Some(content_type) = dialect.grpc_content_type() {
        // No data: the headers end the stream, which makes them the trailers.
        let mut response = Response::new(DrainBody::message_ended());
        grpc::unavailable(response.headers_mut(), content_type);
        if dialect.http1 {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        return response;
    }
    let text = format!("503 Service Unavailable: shutting down, retry in {retry_secs}s\n");
    let mut response = Response::new(DrainBody::message(Bytes::from(text)));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(retry_secs));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if dialect.http1 {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

impl<B> Body for DrainBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    #[inline(always)]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        // A counted body has an inner body until it ends; anything else
        // (exempt, ended, a message) goes one way out of line.
        let (Some(admission), Some(body)) =
            (this.admission.as_ref(), this.inner.as_mut().as_pin_mut())
        else {
            return poll_other(this.inner, this.side, cx);
        };
        if admission.is_drain_ended() {
            return drain_ended(this.inner, this.admission, this.side);
        }
        match body.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // Trailers are the message's last frame, whether or not the
                // body says it has ended (`StreamBody` never does): the
                // request leaves the count, and the drain's end no longer
                // cuts it.
                if frame.is_trailers() {
                    *this.admission = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                // Ended: the request leaves the count. The inner body is
                // let go with this one; polled again, it answers as it
                // would without the layer.
                *this.admission = None;
                Poll::Ready(None)
            }
            other => not_a_frame(other, this.inner, this.admission, this.side, cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(body) => body.is_end_stream(),
            None => !matches!(self.side, Side::Message(_)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.inner, &self.side) {
            (Some(body), _) => body.size_hint(),
            (None, Side::Message(text)) => SizeHint::with_exact(text.len() as u64),
            (None, _) => SizeHint::with_exact(0),
        }
    }
}

impl<B> fmt::Debug for DrainBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match (&self.inner, &self.admission, &self.side) {
            (Some(_), Some(_), _) => "counted",
            // Exempt, or counted and ended: passed through.
            (Some(_), None, _) => "passing through",
            (None, _, Side::Message(_)) => "message",
            (None, _, _) => "ended",
        };
        f.debug_struct("DrainBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}
