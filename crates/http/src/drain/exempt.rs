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
    /// Bit `n` is set when some exempt path is `n` bytes long (bit 63: 63
    /// or more): most requests are told apart by their path's length alone.
    lengths: u64,
    methods: Vec<Method>,
    predicates: Vec<Predicate>,
}

/// The bit of [`Exempt::lengths`] for a path of `len` bytes.
#[inline]
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Default for Exempt {
    fn default() -> Self {
        let mut exempt = Exempt {
            paths: Vec::new(),
            lengths: 0,
            methods: DEFAULT_EXEMPT_METHODS.to_vec(),
            predicates: Vec::new(),
        };
        exempt.set_paths(DEFAULT_EXEMPT_PATHS);
        exempt
    }
}

impl Exempt {
    pub(crate) fn set_paths<I, P>(&mut self, paths: I)
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.paths.clear();
        self.lengths = 0;
        for path in paths {
            self.add_path(path);
        }
    }

    pub(crate) fn add_path(&mut self, path: impl Into<String>) {
        let path: Box<str> = path.into().into();
        self.lengths |= length_bit(path.len());
        self.paths.push(path);
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

    /// Whether `req` is exempt by its path and method (the predicates
    /// aside). By reference: the request is not moved on the hot path.
    #[inline]
    pub(crate) fn matches_path<B>(&self, req: &Request<B>) -> bool {
        // The path's length first: most requests stop there, before any
        // text or method is compared.
        let path = req.uri().path();
        self.lengths & length_bit(path.len()) != 0 && self.matches_path_text(req.method(), path)
    }

    /// The rest of [`matches_path`](Self::matches_path), for a path of an
    /// exempt length (out of line: most requests never get here).
    #[inline(never)]
    fn matches_path_text(&self, method: &Method, path: &str) -> bool {
        self.methods.contains(method) && self.paths.iter().any(|p| **p == *path)
    }

    /// Whether any predicate was added (see [`check_predicates`](Self::check_predicates)).
    #[inline]
    pub(crate) fn has_predicates(&self) -> bool {
        !self.predicates.is_empty()
    }

    /// Whether a predicate exempts `req`.
    #[cold]
    #[inline(never)]
    pub(crate) fn check_predicates<B>(&self, req: &mut Request<B>) -> bool {
        // The predicates see a head: the request's own parts are swapped
        // into one and back, so the request stays where it is.
        let (mut parts, ()) = Request::new(()).into_parts();
        swap_head(&mut parts, req);
        let exempt = self.predicates.iter().any(|p| p(&parts));
        swap_head(&mut parts, req);
        exempt
    }
}

/// Exchanges the head of `req` with `parts`.
fn swap_head<B>(parts: &mut Parts, req: &mut Request<B>) {
    std::mem::swap(&mut parts.method, req.method_mut());
    std::mem::swap(&mut parts.uri, req.uri_mut());
    std::mem::swap(&mut parts.version, req.version_mut());
    std::mem::swap(&mut parts.headers, req.headers_mut());
    std::mem::swap(&mut parts.extensions, req.extensions_mut());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request<()> {
        Request::get(path).body(()).expect("a valid request")
    }

    #[test]
    fn paths_of_every_length_match_exactly() {
        let long = format!("/{}", "x".repeat(80));
        let longer = format!("/{}", "y".repeat(120));
        let mut exempt = Exempt::default();
        exempt.set_paths(["/", "/a", long.as_str()]);
        assert!(exempt.matches_path(&get("/")));
        assert!(exempt.matches_path(&get("/a")));
        assert!(exempt.matches_path(&get(&long)));
        // Same length as an exempt path, different text.
        assert!(!exempt.matches_path(&get("/b")));
        // Both past the last length bit: told apart by their text.
        assert!(!exempt.matches_path(&get(&longer)));
        assert!(!exempt.matches_path(&get("/healthz")));

        exempt.set_paths::<_, String>([]);
        assert!(!exempt.matches_path(&get("/")));
        exempt.add_path("/healthz");
        assert!(exempt.matches_path(&get("/healthz")));
    }
}
