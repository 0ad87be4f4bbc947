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
        Called {
            #[pin]
            inner: F,
            cut: Cut,
            // Taken when the future completes.
            ticket: Option<Ticket>,
            dialect: Dialect,
        },
        Rejected {
            dialect: Dialect,
            config: Arc<Config>,
        },
    }
}

/// What a served request keeps of the layer: its settings and shutdown
/// handle, and for a counted request its place in flight.
pub(crate) enum Ticket {
    /// Counted in flight (and cut if the drain ends first).
    Counted(RequestGuard),
    /// Exempt: neither counted nor cut.
    Exempt(Arc<Config>),
}

impl Ticket {
    #[inline]
    fn config(&self) -> &Arc<Config> {
        match self {
            Ticket::Counted(guard) => guard.config(),
            Ticket::Exempt(config) => config,
        }
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn called(inner: F, ticket: Ticket, dialect: Dialect) -> Self {
        ResponseFuture {
            kind: Kind::Called {
                inner,
                cut: Cut::default(),
                ticket: Some(ticket),
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
            KindProj::Rejected { dialect, config } => Poll::Ready(Ok(rejection(*dialect, config))),
            KindProj::Called {
                inner,
                cut,
                ticket,
                dialect,
            } => {
                let Some(held) = ticket.as_ref() else {
                    panic!("ResponseFuture polled after completion");
                };
                let counted = matches!(held, Ticket::Counted(_));
                let shutdown = &held.config().shutdown;
                if counted && cut.is_armed() && shutdown.is_drain_ended() {
                    // Abandoned: the drain is over and no response yet (a
                    // future that has never been pending is polled first).
                    let response = rejection(*dialect, held.config());
                    *ticket = None;
                    return Poll::Ready(Ok(response));
                }
                let response = match inner.poll(cx) {
                    Poll::Ready(response) => response,
                    Poll::Pending => {
                        if counted {
                            ready!(cut.poll_ended(shutdown, cx));
                            let response = rejection(*dialect, held.config());
                            *ticket = None;
                            return Poll::Ready(Ok(response));
                        }
                        return Poll::Pending;
                    }
                };
                let Some(ticket) = ticket.take() else {
                    unreachable!("checked above");
                };
                // An error drops the ticket: the request is no longer in flight.
                let mut response = response?;
                if dialect.http1
                    && response.status() != StatusCode::SWITCHING_PROTOCOLS
                    && ticket.config().shutdown.is_shutting_down()
                {
                    close_connection(&mut response);
                }
                // The response is rewrapped in place (`map`), not taken apart.
                Poll::Ready(Ok(match ticket {
                    Ticket::Counted(guard) => {
                        let cut = std::mem::take(cut);
                        response.map(|body| DrainBody::tracked(body, guard, cut))
                    }
                    Ticket::Exempt(_) => response.map(DrainBody::untracked),
                }))
            }
        }
    }
}

/// Adds `Connection: close` (HTTP/1 while shutting down): out of line, as
/// it is off the hot path.
#[cold]
#[inline(never)]
fn close_connection<B>(response: &mut Response<B>) {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Called { ticket, .. } => f
                .debug_struct("ResponseFuture")
                .field("rejected", &false)
                .field("counted", &matches!(ticket, Some(Ticket::Counted(_))))
                .finish_non_exhaustive(),
            Kind::Rejected { .. } => f
                .debug_struct("ResponseFuture")
                .field("rejected", &true)
                .finish_non_exhaustive(),
        }
    }
}
