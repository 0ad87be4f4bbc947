//! The response body of a scrape, which counts the scrape once handed over.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::recorder::Shared;

/// The body of a [`MetricsService`](super::MetricsService) response; see
/// its docs for an example.
///
/// The scrape counts as served when the connection has taken the rendered
/// text and dropped the body, not when the handler returned.
pub struct MetricsBody {
    data: Option<Bytes>,
    ticket: Option<Ticket>,
}

struct Ticket {
    shared: Arc<Shared>,
    late: bool,
    sent: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.sent {
            self.shared.scrapes.served(self.late);
        }
    }
}

impl MetricsBody {
    pub(super) fn empty() -> Self {
        MetricsBody {
            data: None,
            ticket: None,
        }
    }

    pub(super) fn scrape(text: Bytes, shared: Arc<Shared>, late: bool) -> Self {
        // An empty rendering is still a scrape, but a connection never
        // polls a body of length zero: count it when the body is dropped.
        // (The in-flight gauge is registered when the recorder is built, so
        // a rendering is empty only once the exporter's idle timeout, if one
        // is set, has expired every metric.)
        let empty = text.is_empty();
        MetricsBody {
            data: (!empty).then_some(text),
            ticket: Some(Ticket {
                shared,
                late,
                sent: empty,
            }),
        }
    }
}

impl fmt::Debug for MetricsBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsBody")
            .field("len", &self.data.as_ref().map_or(0, Bytes::len))
            .field("counted", &self.ticket.is_some())
            .finish()
    }
}

impl Body for MetricsBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match this.data.take() {
            Some(data) => {
                if let Some(ticket) = &mut this.ticket {
                    ticket.sent = true;
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
