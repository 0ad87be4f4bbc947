//! Which requests are exempt from draining: exact paths (for some methods)
//! or predicates.

use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use http::{Method, Request};

/// A predicate deciding from the request head that a request is exempt.
pub(crate) type Predicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// The paths exempt by default: the probes and the metrics endpoint.
pub(crate) const DEFAULT_EXEMPT_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The methods an exempt path is exempt for by default: the read-only ones
/// probes and scrapers use.
pub(crate) const DEFAULT_EXEMPT_METHODS: [Method; 2] = [Method::GET, Method::HEAD];

/// The exemption rules of a [`DrainLayer`](super::DrainLayer).
///
/// Paths match by exact, case-sensitive equality with `uri.path()` as it
/// arrived: no prefix matching, no decoding, no dot-segment or slash
/// normalisation. `/healthz/`, `/HEALTHZ`, `/%68ealthz`, `/./healthz` and
/// `//healthz` are therefore not `/healthz`, so an odd spelling that a router
/// might still route to a probe handler can never slip past the drain. The
/// query is not part of the path: `/healthz?verbose=1` is `/healthz`.
///
/// A path is exempt only for the listed methods (`GET` and `HEAD` by
/// default), so a `POST /metrics` cannot reach a state-changing handler
/// while draining.
#[derive(Clone)]
pub(crate) struct Exempt {
    paths: Vec<Box<str>>,
    methods: Vec<Method>,
    predicates: Vec<Predicate>,
}

impl Default for Exempt {
    fn default() -> Self {
        Exempt {
            paths: DEFAULT_EXEMPT_PATHS.iter().map(|p| (*p).into()).collect(),
            methods: DEFAULT_EXEMPT_METHODS.to_vec(),
            predicates: Vec::new(),
        }
    }
}

impl Exempt {
    pub(crate) fn set_paths<I, P>(&mut self, paths: I)
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.paths = paths.into_iter().map(|p| p.into().into()).collect();
    }

    pub(crate) fn add_path(&mut self, path: impl Into<String>) {
        self.paths.push(path.into().into());
    }

    pub(crate) fn set_methods<I>(&mut self, methods: I)
    where
        I: IntoIterator<Item = Method>,
    {
        self.methods = methods.into_iter().collect();
    }

    pub(crate) fn methods(&self) -> &[Method] {
        &self.methods
    }

    pub(crate) fn add_predicate(&mut self, predicate: Predicate) {
        self.predicates.push(predicate);
    }

    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|p| &**p)
    }

    /// Whether `req` is exempt. Hands the request back unchanged.
    /// Whether `req` is exempt by its path and method (the predicates
    /// aside). By reference: the request is not moved on the hot path.
    #[inline]
    pub(crate) fn matches_path<B>(&self, req: &Request<B>) -> bool {
        // The method first: a comparison of small values, and most requests
        // that are not `GET` or `HEAD` stop there.
        self.methods.contains(req.method()) && {
            let path = req.uri().path();
            self.paths.iter().any(|p| **p == *path)
        }
    }

    /// Whether any predicate was added (see [`check_predicates`](Self::check_predicates)).
    #[inline]
    pub(crate) fn has_predicates(&self) -> bool {
        !self.predicates.is_empty()
    }

    /// Whether a predicate exempts `req`; the request is handed back.
    #[cold]
    #[inline(never)]
    pub(crate) fn check_predicates<B>(&self, req: Request<B>) -> (bool, Request<B>) {
        let (parts, body) = req.into_parts();
        let exempt = self.predicates.iter().any(|p| p(&parts));
        (exempt, Request::from_parts(parts, body))
    }
}

impl fmt::Debug for Exempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exempt")
            .field("paths", &self.paths)
            .field("methods", &self.methods)
            .field("predicates", &self.predicates.len())
            .finish()
    }
}
