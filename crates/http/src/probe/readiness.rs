use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::Service;
use winddown_core::Shutdown;

use super::probe_response;

/// A readiness probe: `200 ready` while running, `503` from the trigger on.
///
/// The body names the state (`not ready: shutting down (draining)`). See the
/// [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct Readiness {
    shutdown: Shutdown,
}

impl Readiness {
    /// A readiness probe following `shutdown`.
    pub const fn new(shutdown: Shutdown) -> Self {
        Readiness { shutdown }
    }
}

impl<B> Service<Request<B>> for Readiness {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let response = if self.shutdown.is_shutting_down() {
            probe_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: shutting down ({})\n", self.shutdown.state()),
            )
        } else {
            probe_response(StatusCode::OK, "ready\n".to_owned())
        };
        ready(Ok(response))
    }
}
