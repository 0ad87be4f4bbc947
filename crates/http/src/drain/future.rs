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
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        // Counted in flight, and cut if the drain ends first.
        Counted {
            #[pin]
            inner: F,
            // Taken when the future completes.
            guard: Option<RequestGuard>,
            cut: Cut,
            dialect: Dialect,
        },
        // Exempt: neither counted nor cut.
        Exempt {
            #[pin]
            inner: F,
            config: Arc<Config>,
            dialect: Dialect,
        },
        Rejected {
            dialect: Dialect,
            config: Arc<Config>,
        },
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn counted(inner: F, guard: RequestGuard, dialect: Dialect) -> Self {
        ResponseFuture {
            kind: Kind::Counted {
                inner,
                guard: Some(guard),
                cut: Cut::default(),
                dialect,
            },
        }
    }

    #[inline]
    pub(crate) fn exempt(inner: F, config: Arc<Config>, dialect: Dialect) -> Self {
        ResponseFuture {
            kind: Kind::Exempt {
                inner,
                config,
                dialect,
            },
        }
    }

    pub(crate) fn rejected(dialect: Dialect, config: Arc<Config>) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { dialect, config },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<DrainBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Counted {
                inner,
                guard,
                cut,
                dialect,
            } => {
                let Some(held) = guard.as_ref() else {
                    panic!("ResponseFuture polled after completion");
                };
                // Checked only once pending: a future that answers at once
                // is not looked at twice.
                if cut.is_armed() && held.shutdown().is_drain_ended() {
                    // Abandoned: the drain is over and no response yet.
                    let response = rejection(*dialect, held.config());
                    *guard = None;
                    return Poll::Ready(Ok(response));
                }
                let response = match inner.poll(cx) {
                    Poll::Ready(response) => response,
                    Poll::Pending => {
                        ready!(cut.poll_ended(held.shutdown(), cx));
                        let response = rejection(*dialect, held.config());
                        *guard = None;
                        return Poll::Ready(Ok(response));
                    }
                };
                let Some(guard) = guard.take() else {
                    unreachable!("checked above");
                };
                // An error drops the guard: the request is no longer in flight.
                let mut response = response?;
                if dialect.http1 && guard.shutdown().is_shutting_down() {
                    close_connection(&mut response);
                }
                let cut = std::mem::take(cut);
                // The response is rewrapped in place (`map`), not taken apart.
                Poll::Ready(Ok(response.map(|body| DrainBody::counted(body, guard, cut))))
            }
            KindProj::Exempt {
                inner,
                config,
                dialect,
            } => {
                let mut response = ready!(inner.poll(cx))?;
                if dialect.http1 && config.shutdown.is_shutting_down() {
                    close_connection(&mut response);
                }
                Poll::Ready(Ok(response.map(DrainBody::exempt)))
            }
            KindProj::Rejected { dialect, config } => Poll::Ready(Ok(rejection(*dialect, config))),
        }
    }
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
        let (rejected, counted) = match &self.kind {
            Kind::Counted { guard, .. } => (false, guard.is_some()),
            Kind::Exempt { .. } => (false, false),
            Kind::Rejected { .. } => (true, false),
        };
        f.debug_struct("ResponseFuture")
            .field("rejected", &rejected)
            .field("counted", &counted)
            .finish_non_exhaustive()
    }
}
