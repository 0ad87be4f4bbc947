//! [`ResponseFuture`] of [`Drain`](super::Drain).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::CONNECTION;
use http::{HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;

use super::body::{DrainBody, rejection};
use super::cut::Cut;
use super::grpc::Dialect;
use super::guard::RequestGuard;
use super::layer::Config;

pin_project! {
    /// Response future of [`Drain`](super::Drain).
    ///
    /// It holds the request's in-flight guard (dropped with it) until the
    /// response is ready, then hands the guard to the [`DrainBody`].
    //
    // Plain `Option`s rather than an enum of the kinds of request: with the
    // inner future in an enum variant, or a tag beside the guard, every
    // request paid for moving and matching them (measured in `benches/layer.rs`).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        // `None` for a refused request.
        #[pin]
        inner: Option<F>,
        // A counted request's place in flight; taken when the future completes.
        guard: Option<RequestGuard>,
        // An exempt or refused request's settings; taken when the future
        // completes.
        config: Option<Arc<Config>>,
        cut: Cut,
        dialect: Dialect,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn counted(inner: F, guard: RequestGuard, dialect: Dialect) -> Self {
        ResponseFuture {
            inner: Some(inner),
            guard: Some(guard),
            config: None,
            cut: Cut::default(),
            dialect,
        }
    }

    #[inline]
    pub(crate) fn exempt(inner: F, config: Arc<Config>, dialect: Dialect) -> Self {
        ResponseFuture {
            inner: Some(inner),
            guard: None,
            config: Some(config),
            cut: Cut::default(),
            dialect,
        }
    }

    pub(crate) fn rejected(dialect: Dialect, config: Arc<Config>) -> Self {
        ResponseFuture {
            inner: None,
            guard: None,
            config: Some(config),
            cut: Cut::default(),
            dialect,
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
            return Poll::Ready(Ok(refuse(this.config, *this.dialect)));
        };
        if this.guard.is_none() && this.config.is_none() {
            polled_after_completion();
        }
        if this.cut.is_armed()
            && let Some(response) = abandoned(this.guard, *this.dialect)
        {
            return Poll::Ready(Ok(response));
        }
        let Poll::Ready(result) = inner.poll(cx) else {
            return pending(this.guard, this.cut, *this.dialect, cx).map(Ok);
        };
        // An error drops the guard: the request is no longer in flight.
        let guard = this.guard.take();
        let config = this.config.take();
        let mut response = result?;
        let shutdown = match (&guard, &config) {
            (Some(guard), _) => guard.shutdown(),
            (None, Some(config)) => &config.shutdown,
            (None, None) => polled_after_completion(),
        };
        if this.dialect.http1 && shutdown.is_shutting_down() {
            close_connection(&mut response);
        }
        let cut = std::mem::take(this.cut);
        // The response is rewrapped in place (`map`), not taken apart.
        Poll::Ready(Ok(response.map(|body| DrainBody::new(body, guard, cut))))
    }
}

#[cold]
#[inline(never)]
fn polled_after_completion() -> ! {
    panic!("ResponseFuture polled after completion")
}

/// The inner future is pending: a counted request waits for the drain's end
/// too, and is abandoned if it comes first.
#[cold]
#[inline(never)]
fn pending<B>(
    guard: &mut Option<RequestGuard>,
    cut: &mut Cut,
    dialect: Dialect,
    cx: &mut Context<'_>,
) -> Poll<Response<DrainBody<B>>> {
    let Some(held) = guard.as_ref() else {
        return Poll::Pending;
    };
    ready!(cut.poll_ended(held.shutdown(), cx));
    Poll::Ready(abandon(guard, dialect))
}

/// A counted request that has been pending: abandoned if the drain has
/// ended since (the inner future is not polled again).
#[cold]
#[inline(never)]
fn abandoned<B>(
    guard: &mut Option<RequestGuard>,
    dialect: Dialect,
) -> Option<Response<DrainBody<B>>> {
    match guard {
        Some(held) if held.shutdown().is_drain_ended() => Some(abandon(guard, dialect)),
        _ => None,
    }
}

/// The answer to a refused request.
#[cold]
#[inline(never)]
fn refuse<B>(config: &mut Option<Arc<Config>>, dialect: Dialect) -> Response<DrainBody<B>> {
    let Some(config) = config.take() else {
        polled_after_completion()
    };
    rejection(dialect, &config)
}

/// The answer to a counted request abandoned when the drain ended: the
/// request leaves the count.
#[cold]
#[inline(never)]
fn abandon<B>(guard: &mut Option<RequestGuard>, dialect: Dialect) -> Response<DrainBody<B>> {
    let Some(guard) = guard.take() else {
        unreachable!("only counted requests are abandoned");
    };
    rejection(dialect, guard.config())
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
            .field("counted", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}
