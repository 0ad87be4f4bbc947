use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::Service;
use winddown_core::Shutdown;

use super::probe_response;

/// A liveness probe: `200` in every state, with the state in the body
/// (`alive (cleanup)`).
///
/// A process that is shutting down is alive: failing liveness would make an
/// orchestrator kill it in the middle of its drain. See the
/// [module docs](super) for an example.
#[derive(Debug, Clone)]
pub struct Liveness {
    shutdown: Shutdown,
}

impl Liveness {
    /// A liveness probe reporting the state of `shutdown`.
    pub const fn new(shutdown: Shutdown) -> Self {
        Liveness { shutdown }
    }
}

impl<B> Service<Request<B>> for Liveness {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let text = format!("alive ({})\n", self.shutdown.state());
        ready(Ok(probe_response(StatusCode::OK, text)))
    }
}
