//! [`ResponseFuture`] of [`Drain`](super::Drain).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::CONNECTION;
use http::{HeaderValue, Response, StatusCode};
use pin_project_lite::pin_project;
use winddown_core::Shutdown;

use super::body::{DrainBody, rejection};
use super::cut::Cut;
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
        Called {
            #[pin]
            inner: F,
            cut: Cut,
            // `None` for exempt requests, which are not counted or cut.
            guard: Option<RequestGuard>,
            http1: bool,
            config: Arc<Config>,
        },
        Rejected {
            http1: bool,
            config: Arc<Config>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn called(
        inner: F,
        shutdown: Shutdown,
        guard: Option<RequestGuard>,
        http1: bool,
        config: Arc<Config>,
    ) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                inner,
                cut: Cut::new(shutdown),
                guard,
                http1,
                config,
            },
        }
    }

    pub(crate) fn rejected(http1: bool, config: Arc<Config>) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { http1, config },
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
            KindProj::Rejected { http1, config } => Poll::Ready(Ok(rejection(*http1, config))),
            KindProj::Called {
                inner,
                cut,
                guard,
                http1,
                config,
            } => {
                let counted = guard.is_some();
                if counted && cut.has_ended() {
                    // Abandoned: the drain is over and no response yet.
                    guard.take();
                    return Poll::Ready(Ok(rejection(*http1, config)));
                }
                let response = match inner.poll(cx) {
                    Poll::Ready(response) => response,
                    Poll::Pending => {
                        if counted {
                            ready!(cut.poll_ended(cx));
                            guard.take();
                            return Poll::Ready(Ok(rejection(*http1, config)));
                        }
                        return Poll::Pending;
                    }
                };
                let (mut head, body) = match response {
                    Ok(response) => response.into_parts(),
                    Err(error) => {
                        guard.take();
                        return Poll::Ready(Err(error));
                    }
                };
                let shutdown = cut.shutdown();
                if *http1
                    && head.status != StatusCode::SWITCHING_PROTOCOLS
                    && shutdown.is_shutting_down()
                {
                    head.headers
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                let body = match guard.take() {
                    Some(guard) => DrainBody::tracked(body, guard, shutdown.clone()),
                    None => DrainBody::untracked(body),
                };
                Poll::Ready(Ok(Response::from_parts(head, body)))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Called { guard, .. } => f
                .debug_struct("ResponseFuture")
                .field("rejected", &false)
                .field("counted", &guard.is_some())
                .finish_non_exhaustive(),
            Kind::Rejected { .. } => f
                .debug_struct("ResponseFuture")
                .field("rejected", &true)
                .finish_non_exhaustive(),
        }
    }
}
