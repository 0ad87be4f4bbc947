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

use super::cut::Cut;
use super::grpc::{self, Dialect};
use super::guard::RequestGuard;
use super::layer::Config;

/// The error a response body ends with when the drain ended while it was
/// still streaming (an endless event stream, a long poll).
///
/// hyper answers a body error by aborting the HTTP/1 connection or
/// resetting the HTTP/2 stream, so the client sees the response cut short
/// rather than a clean end. Find it in a body error with
/// `error.is::<DrainEnded>()`.
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
    /// For a counted request it holds the request's in-flight guard until
    /// the body has ended or is dropped, and it ends the body with a
    /// [`DrainEnded`] error if the drain ends first. For a 503 it is the
    /// short plain-text message; for a gRPC refusal it is empty.
    ///
    /// See the [module docs](super) for an example.
    pub struct DrainBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // A counted request's body: in flight until it ends, and watched
        // for the drain's end.
        Counted {
            #[pin]
            body: B,
            // Taken when the body has ended, failed or been cut.
            guard: Option<RequestGuard>,
            cut: Cut,
        },
        // An exempt request's body, passed through.
        Exempt {
            #[pin]
            body: B,
        },
        Message {
            data: Option<Bytes>,
        },
    }
}

impl<B> DrainBody<B> {
    #[inline]
    pub(crate) fn counted(body: B, guard: RequestGuard, cut: Cut) -> Self {
        DrainBody {
            kind: Kind::Counted {
                body,
                guard: Some(guard),
                cut,
            },
        }
    }

    #[inline]
    pub(crate) fn exempt(body: B) -> Self {
        DrainBody {
            kind: Kind::Exempt { body },
        }
    }

    fn message(data: Bytes) -> Self {
        DrainBody {
            kind: Kind::Message { data: Some(data) },
        }
    }

    /// A message body without data: it has already ended.
    fn message_ended() -> Self {
        DrainBody {
            kind: Kind::Message { data: None },
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
        matches!(&self.kind, Kind::Counted { guard: Some(_), .. })
    }
}

/// The 503 answered while draining, or to a handler still pending when the
/// drain ended; for gRPC, a trailers-only `UNAVAILABLE` status instead.
#[cold]
#[inline(never)]
pub(crate) fn rejection<B>(dialect: Dialect, config: &Config) -> Response<DrainBody<B>> {
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
    let mut response = Response::new(DrainBody::message(config.body.clone()));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, config.retry_after_header.clone());
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

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Message { data } => {
                Poll::Ready(data.take().map(|d| Ok(Frame::data(d.into()))))
            }
            KindProj::Exempt { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Counted { body, guard, cut } => {
                let Some(held) = guard.as_ref() else {
                    // Ended, failed or cut already.
                    return Poll::Ready(None);
                };
                if held.shutdown().is_drain_ended() {
                    *guard = None;
                    return Poll::Ready(Some(Err(DrainEnded.into())));
                }
                match body.poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                    Poll::Ready(Some(Err(error))) => {
                        *guard = None;
                        Poll::Ready(Some(Err(error.into())))
                    }
                    Poll::Ready(None) => {
                        *guard = None;
                        Poll::Ready(None)
                    }
                    Poll::Pending => {
                        if cut.poll_ended(held.shutdown(), cx).is_ready() {
                            *guard = None;
                            return Poll::Ready(Some(Err(DrainEnded.into())));
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Message { data } => data.is_none(),
            // Already ended, failed or cut.
            Kind::Counted { guard: None, .. } => true,
            Kind::Counted { body, .. } | Kind::Exempt { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Message { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Counted { body, .. } | Kind::Exempt { body } => body.size_hint(),
        }
    }
}

impl<B> fmt::Debug for DrainBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Counted { guard, .. } => f
                .debug_struct("DrainBody")
                .field("counted", &true)
                .field("in_flight", &guard.is_some())
                .finish_non_exhaustive(),
            Kind::Exempt { .. } => f
                .debug_struct("DrainBody")
                .field("counted", &false)
                .field("in_flight", &false)
                .finish_non_exhaustive(),
            Kind::Message { data } => f.debug_struct("DrainBody").field("message", data).finish(),
        }
    }
}
