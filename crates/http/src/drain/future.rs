//! [`ResponseFuture`] of [`Drain`](super::Drain).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::CONNECTION;
use http::{HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;
use winddown_core::Admission;

use super::body::{DrainBody, rejection};
use super::cut::Cut;
use super::grpc::Dialect;

pin_project! {
    /// Response future of [`Drain`](super::Drain).
    ///
    /// It holds the request's admission (dropped with it) until the
    /// response is ready, then hands it to the [`DrainBody`]. See the
    /// [module docs](super) for an example.
    //
    // Plain `Option`s rather than an enum of the kinds of request: with the
    // inner future in an enum variant, or a tag beside the admission, every
    // request paid for moving and matching them (measured in `benches/layer.rs`).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        // `None` for a refused request.
        #[pin]
        inner: Option<F>,
        // A counted request's place in flight; taken when the future completes.
        admission: Option<Admission>,
        cut: Cut,
        dialect: Dialect,
        // An exempt request's answer closes its HTTP/1 connection: whether
        // shutdown had started when it came in.
        exempt_close: bool,
        // For the 503 of a request refused or abandoned.
        retry_secs: u64,
    }
}

impl<F> ResponseFuture<F> {
    /// The future of a served request: `admission` is `None` for an exempt
    /// one, which closes its HTTP/1 connection if `exempt_close`.
    #[inline]
    pub(crate) fn new(
        inner: F,
        admission: Option<Admission>,
        dialect: Dialect,
        exempt_close: bool,
        retry_secs: u64,
    ) -> Self {
        ResponseFuture {
            inner: Some(inner),
            admission,
            cut: Cut::default(),
            dialect,
            exempt_close,
            retry_secs,
        }
    }

    /// The future of a refused request.
    pub(crate) fn refused(dialect: Dialect, retry_secs: u64) -> Self {
        ResponseFuture {
            inner: None,
            admission: None,
            cut: Cut::default(),
            dialect,
            exempt_close: false,
            retry_secs,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<DrainBody<B>>, E>;

    /// The common case (served, answered) takes no branch out of line; the
    /// rest (refused, pending, abandoned) is in cold functions that do not
    /// depend on the inner future's type.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(Ok(rejection(*this.dialect, *this.retry_secs)));
        };
        if this.cut.is_armed()
            && let Some(response) = abandoned(this.admission, *this.dialect, *this.retry_secs)
        {
            return Poll::Ready(Ok(response));
        }
        let Poll::Ready(result) = inner.poll(cx) else {
            return pending(
                this.admission,
                this.cut,
                *this.dialect,
                *this.retry_secs,
                cx,
            )
            .map(Ok);
        };
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                // The request is no longer in flight.
                finish(this.admission);
                return Poll::Ready(Err(error));
            }
        };
        let admission = this.admission.take();
        let shutting_down = match &admission {
            Some(admission) => admission.is_shutting_down(),
            None => *this.exempt_close,
        };
        if this.dialect.http1 && shutting_down {
            close_connection(&mut response);
        }
        let cut = std::mem::take(this.cut);
        let grpc = this.dialect.is_native_grpc_h2();
        // The response is rewrapped in place (`map`), not taken apart.
        Poll::Ready(Ok(
            response.map(|body| DrainBody::new(body, admission, cut, grpc))
        ))
    }
}

/// Ends a request whose handler failed.
#[cold]
#[inline(never)]
fn finish(admission: &mut Option<Admission>) {
    *admission = None;
}

/// The inner future is pending: a counted request waits for the drain's end
/// too, and is abandoned if it comes first.
#[cold]
#[inline(never)]
fn pending<B>(
    admission: &mut Option<Admission>,
    cut: &mut Cut,
    dialect: Dialect,
    retry_secs: u64,
    cx: &mut Context<'_>,
) -> Poll<Response<DrainBody<B>>> {
    let Some(held) = admission.as_ref() else {
        return Poll::Pending;
    };
    ready!(cut.poll_ended(held, cx));
    Poll::Ready(abandon(admission, dialect, retry_secs))
}

/// A counted request that has been pending: abandoned if the drain has
/// ended since (the inner future is not polled again).
#[cold]
#[inline(never)]
fn abandoned<B>(
    admission: &mut Option<Admission>,
    dialect: Dialect,
    retry_secs: u64,
) -> Option<Response<DrainBody<B>>> {
    match admission {
        Some(held) if held.is_drain_ended() => Some(abandon(admission, dialect, retry_secs)),
        _ => None,
    }
}

/// The answer to a counted request abandoned when the drain ended: the
/// request leaves the count.
fn abandon<B>(
    admission: &mut Option<Admission>,
    dialect: Dialect,
    retry_secs: u64,
) -> Response<DrainBody<B>> {
    *admission = None;
    rejection(dialect, retry_secs)
}

/// Adds `Connection: close` (HTTP/1 while shutting down) unless the
/// connection is being upgraded: out of line, as it is off the hot path.
#[cold]
#[inline(never)]
fn close_connection<B>(response: &mut Response<B>) {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("rejected", &self.inner.is_none())
            .field("counted", &self.admission.is_some())
            .finish_non_exhaustive()
    }
}
