//! Refusals in the client's own protocol: a gRPC client reads a `503` as a
//! bare transport failure, so gRPC requests are refused with a gRPC status
//! instead.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request};

/// `UNAVAILABLE`: the status gRPC clients retry, on another server if they
/// have one.
const UNAVAILABLE: &str = "14";

/// The `grpc-message` of a refusal. Printable ASCII without `%`, so it is
/// its own percent-encoding.
const MESSAGE: &str = "the server is shutting down; retry on another server";

/// How a request is answered when it is refused or cut: in gRPC terms or
/// plain HTTP, and whether a `Connection` header may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect {
    /// HTTP/1.x: the response may carry `Connection: close`.
    pub(crate) http1: bool,
    grpc: Grpc,
}

/// The gRPC flavour of a request, from its `content-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grpc {
    /// Not gRPC: refused with a plain `503`.
    No,
    /// `application/grpc`, `application/grpc+proto`, … over HTTP/2 or
    /// later, whose trailers carry the call's status.
    Native,
    /// The same over HTTP/1, where hyper drops trailers the response did
    /// not announce: a cut aborts the connection, which at least tells the
    /// client the call did not end.
    NativeHttp1,
    /// `application/grpc-web`, `application/grpc-web+proto`
    Web,
    /// `application/grpc-web-text`
    WebText,
}

impl Dialect {
    /// The dialect of `req`.
    #[inline]
    pub(crate) fn of<B>(req: &Request<B>) -> Self {
        let http1 = super::is_http1(req.version());
        // gRPC and gRPC-Web calls are always POSTs: other requests skip the
        // header lookup.
        if req.method() != Method::POST {
            return Dialect {
                http1,
                grpc: Grpc::No,
            };
        }
        let grpc = match req.headers().get(CONTENT_TYPE) {
            None => Grpc::No,
            Some(value) => match Grpc::of(value.as_bytes()) {
                Grpc::Native if http1 => Grpc::NativeHttp1,
                grpc => grpc,
            },
        };
        Dialect { http1, grpc }
    }

    /// Whether the request is a native gRPC call over HTTP/2 or later,
    /// whose trailers carry its status.
    #[inline]
    pub(crate) fn is_native_grpc_h2(self) -> bool {
        self.grpc == Grpc::Native
    }

    /// The `content-type` of a gRPC answer, or `None` for plain HTTP.
    pub(crate) fn grpc_content_type(self) -> Option<&'static str> {
        match self.grpc {
            Grpc::No => None,
            Grpc::Native | Grpc::NativeHttp1 => Some("application/grpc"),
            Grpc::Web => Some("application/grpc-web"),
            Grpc::WebText => Some("application/grpc-web-text"),
        }
    }
}

impl Grpc {
    /// Media types compare case-insensitively; parameters and `+proto` style
    /// suffixes do not change the flavour.
    fn of(content_type: &[u8]) -> Self {
        if !starts_with_ignore_case(content_type, b"application/grpc") {
            Grpc::No
        } else if starts_with_ignore_case(content_type, b"application/grpc-web-text") {
            Grpc::WebText
        } else if starts_with_ignore_case(content_type, b"application/grpc-web") {
            Grpc::Web
        } else {
            Grpc::Native
        }
    }
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The `grpc-message` of a call cut at the drain's end. Printable ASCII
/// without `%`, like [`MESSAGE`].
const CUT_MESSAGE: &str =
    "the server is shutting down and its drain ended before this call did; retry on another server";

/// The trailers of a call cut at the drain's end: `UNAVAILABLE`.
pub(crate) fn cut_trailers() -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    status_unavailable(&mut trailers, CUT_MESSAGE);
    trailers
}

/// Fills `headers` for a trailers-only gRPC response (HTTP 200 and an empty
/// body): the status `UNAVAILABLE` and its message.
pub(crate) fn unavailable(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    status_unavailable(headers, MESSAGE);
}

/// The status `UNAVAILABLE` with `message`, in headers or trailers.
fn status_unavailable(headers: &mut HeaderMap, message: &'static str) {
    headers.insert("grpc-status", HeaderValue::from_static(UNAVAILABLE));
    headers.insert("grpc-message", HeaderValue::from_static(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavour_from_content_type() {
        for (content_type, expected) in [
            ("application/grpc", Grpc::Native),
            ("application/grpc+proto", Grpc::Native),
            ("Application/GRPC; charset=utf-8", Grpc::Native),
            ("application/grpc-web", Grpc::Web),
            ("application/grpc-web+proto", Grpc::Web),
            ("application/grpc-web-text+proto", Grpc::WebText),
            ("application/json", Grpc::No),
            ("application/grp", Grpc::No),
            ("text/plain", Grpc::No),
            ("", Grpc::No),
        ] {
            assert_eq!(
                Grpc::of(content_type.as_bytes()),
                expected,
                "{content_type}"
            );
        }
    }
}
