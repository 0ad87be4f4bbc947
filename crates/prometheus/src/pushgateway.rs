//! Pushing the last figures once to a Prometheus Pushgateway.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::PushError;
use crate::service::CONTENT_TYPE_TEXT;
use winddown_core::text::{bounded_line, has_userinfo, redact_url, scheme_only};

/// The default bound of one push.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// How much of a refusal's body is read and kept (escaped) in the error.
const MAX_ERROR_BODY: usize = 512;
/// Why a URL with `user:password@` is refused.
const CREDENTIALS: &str = "credentials in the URL are not supported (the push sends no Authorization header; put a proxy that adds it in front of the gateway)";

/// A Pushgateway group to push the last shutdown's figures to.
///
/// # Grouping key
///
/// The figures go to `<base>/metrics/job/<job>/instance/<instance>` with an
/// HTTP `PUT`, which **replaces** every metric of that group. So the group
/// holds exactly one process's last shutdown, and a later shutdown with the
/// same key overwrites it instead of adding series:
///
/// - `job` is the service's name.
/// - `instance` defaults to [`default_instance`](Self::default_instance):
///   `HOSTNAME`, else the kernel's host name. That is stable for a systemd
///   host, a StatefulSet pod (`orders-0`) or a container with a fixed host
///   name, so each of them keeps one group.
/// - A Deployment's pods get new random names on every rollout, and the
///   Pushgateway never forgets a group on its own: with the host name as the
///   instance, one group per pod that ever existed piles up. Pass a bounded
///   identity there (`.instance("slot-1")`), or an empty instance to group by
///   job only (`<base>/metrics/job/<job>`): then the last pod to shut down
///   overwrites the others, which is what "the last shutdown" means.
///
/// A group is removed with `DELETE` on the same URL ([`delete`](Self::delete)),
/// e.g. from a cleanup job. Scrape the Pushgateway with `honor_labels: true`
/// so the `job` and `instance` labels of the group are kept. Label values
/// outside `[A-Za-z0-9._~-]` are sent base64url-encoded (`instance@base64/…`),
/// the Pushgateway's way of carrying `/` and empty values.
///
/// Only `http://` is supported (no TLS dependencies); put a sidecar or a
/// proxy in front of an `https` gateway.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_prometheus::Pushgateway;
///
/// let gateway = Pushgateway::new("http://pushgateway:9091", "orders")?
///     .instance("orders-0")
///     .timeout(Duration::from_secs(2));
/// assert_eq!(gateway.group_url(), "http://pushgateway:9091/metrics/job/orders/instance/orders-0");
///
/// let by_job = Pushgateway::new("http://pushgateway:9091/", "orders")?.instance("");
/// assert_eq!(by_job.group_url(), "http://pushgateway:9091/metrics/job/orders");
/// # Ok::<(), winddown_prometheus::PushError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Pushgateway {
    authority: String,
    host: String,
    port: u16,
    prefix: String,
    job: String,
    instance: String,
    timeout: Duration,
}

impl Pushgateway {
    /// A group on the gateway at `base_url` (`http://host:port`, optionally
    /// with a path prefix), for the service `job`, with the
    /// [default instance](Self::default_instance) and a 3 s timeout.
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidUrl`] for anything but an `http://` URL with a
    /// host, a port from 1 to 65535 if a `:` follows the host (none: 80), no
    /// query, no fragment and no credentials, [`PushError::EmptyJob`] for an
    /// empty job. A password never reaches a message: any `@` after
    /// `http://` counts as the end of credentials (a password may hold `/`,
    /// `?` or `#`), refused and shown as `***@`; a URL that does not parse
    /// shows as its scheme only (`http://***`).
    ///
    /// # Examples
    ///
    /// ```
    /// use winddown_prometheus::{PushError, Pushgateway};
    ///
    /// let gateway = Pushgateway::new("http://pushgateway:9091/prefix", "orders")?;
    /// assert_eq!(gateway.job(), "orders");
    /// assert_eq!(gateway.instance_label(), Pushgateway::default_instance());
    ///
    /// assert!(matches!(Pushgateway::new("http://pushgateway:9091", ""), Err(PushError::EmptyJob)));
    /// let error = Pushgateway::new("http://ops:hunter/2@pushgateway:9091", "orders").unwrap_err();
    /// assert!(error.to_string().contains("\"http://***@pushgateway:9091\""));
    /// assert!(!error.to_string().contains("hunter"));
    ///
    /// let error = Pushgateway::new("http://pushgateway:99999", "orders").unwrap_err();
    /// assert!(error.to_string().contains(r#"its port "99999" is not a number from 1 to 65535"#));
    /// # Ok::<(), PushError>(())
    /// ```
    pub fn new(base_url: &str, job: impl Into<String>) -> Result<Pushgateway, PushError> {
        // Never the URL as given: it may carry a password. One that does not
        // parse shows its scheme only.
        let parsed = base_url.parse::<Uri>();
        let invalid = |reason: &str| PushError::InvalidUrl {
            url: match &parsed {
                Ok(_) => redact_url(base_url).into_owned(),
                Err(_) => scheme_only(base_url),
            },
            reason: reason.to_owned(),
        };
        // Before parsing: `http://ops:hunter/2@gw` parses with `ops` as the
        // host and the password in the path.
        if has_userinfo(base_url) {
            return Err(invalid(CREDENTIALS));
        }
        let Ok(uri) = &parsed else {
            return Err(invalid(
                "it is not a valid URL (only its scheme is shown: it may hold a password)",
            ));
        };
        match uri.scheme_str() {
            Some("http") => {}
            Some(_) => return Err(invalid("only http:// is supported")),
            None => return Err(invalid("it has no scheme")),
        }
        let authority = uri.authority().ok_or_else(|| invalid("it has no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("it has no host"));
        }
        if authority.as_str().contains('@') {
            return Err(invalid(CREDENTIALS));
        }
        if uri.query().is_some() {
            return Err(invalid("it has a query string"));
        }
        // `http::Uri` drops a fragment silently.
        if base_url.contains('#') {
            return Err(invalid("it has a fragment (#…)"));
        }
        // `http::Uri` does not check the port: `port_u16` is `None` for
        // "99999" as for no port at all.
        let port = match authority.as_str().strip_prefix(host) {
            Some("") => 80,
            Some(after) => after
                .strip_prefix(':')
                .and_then(parse_port)
                .ok_or_else(|| {
                    invalid(&format!(
                        "its port {:?} is not a number from 1 to 65535 (leave out the \":\" for port 80)",
                        after.strip_prefix(':').unwrap_or(after)
                    ))
                })?,
            None => return Err(invalid("it has no host")),
        };
        let job = job.into();
        if job.is_empty() {
            return Err(PushError::EmptyJob);
        }
        Ok(Pushgateway {
            authority: authority.as_str().to_owned(),
            host: host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host)
                .to_owned(),
            port,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            job,
            instance: Pushgateway::default_instance(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The instance label of the group; empty groups by job only. See the
    /// [grouping key](Self#grouping-key).
    ///
    /// ```
    /// use winddown_prometheus::Pushgateway;
    ///
    /// let gateway = Pushgateway::new("http://pushgateway:9091", "orders")?.instance("slot-1");
    /// assert_eq!(gateway.group_path(), "/metrics/job/orders/instance/slot-1");
    /// // Values outside [A-Za-z0-9._~-] are sent base64url-encoded.
    /// let gateway = gateway.instance("10.0.0.7:8080");
    /// assert_eq!(gateway.group_path(), "/metrics/job/orders/instance@base64/MTAuMC4wLjc6ODA4MA==");
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    /// Bounds one push (connect, send, answer); 3 s by default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_prometheus::Pushgateway;
    ///
    /// // A gateway next to the service answers quickly; leave room in the
    /// // platform's grace period for this bound.
    /// let gateway = Pushgateway::new("http://localhost:9091", "orders")?
    ///     .timeout(Duration::from_millis(500));
    /// # let _ = gateway;
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The default instance: `HOSTNAME` if set and not empty, else the
    /// kernel's host name, else `"unknown"`.
    ///
    /// ```
    /// assert!(!winddown_prometheus::Pushgateway::default_instance().is_empty());
    /// ```
    pub fn default_instance() -> String {
        if let Some(name) = std::env::var("HOSTNAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
        {
            return name.trim().to_owned();
        }
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .map(|name| name.trim().to_owned())
            .find(|name| !name.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// The job label.
    ///
    /// ```
    /// let gateway = winddown_prometheus::Pushgateway::new("http://pushgateway:9091", "orders")?;
    /// assert_eq!(gateway.job(), "orders");
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn job(&self) -> &str {
        &self.job
    }

    /// The instance label (empty: grouped by job only).
    ///
    /// ```
    /// let gateway = winddown_prometheus::Pushgateway::new("http://pushgateway:9091", "orders")?
    ///     .instance("orders-0");
    /// assert_eq!(gateway.instance_label(), "orders-0");
    /// assert_eq!(gateway.instance("").instance_label(), "");
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn instance_label(&self) -> &str {
        &self.instance
    }

    /// The path of the group: `/metrics/job/<job>[/instance/<instance>]`,
    /// after the base URL's path prefix if it has one.
    ///
    /// ```
    /// use winddown_prometheus::Pushgateway;
    ///
    /// let gateway = Pushgateway::new("http://gateway.internal/pushgateway/", "orders")?.instance("");
    /// assert_eq!(gateway.group_path(), "/pushgateway/metrics/job/orders");
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn group_path(&self) -> String {
        let mut path = format!("{}/metrics/{}", self.prefix, segment("job", &self.job));
        if !self.instance.is_empty() {
            path.push('/');
            path.push_str(&segment("instance", &self.instance));
        }
        path
    }

    /// The full URL of the group.
    ///
    /// ```
    /// use winddown_prometheus::Pushgateway;
    ///
    /// let gateway = Pushgateway::new("http://[::1]:9091", "orders")?.instance("orders-0");
    /// assert_eq!(gateway.group_url(), "http://[::1]:9091/metrics/job/orders/instance/orders-0");
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn group_url(&self) -> String {
        format!("http://{}{}", self.authority, self.group_path())
    }

    /// Replaces the group with `text` (Prometheus text format) with a `PUT`.
    ///
    /// # Errors
    ///
    /// A [`PushError`] naming the URL if the gateway cannot be reached,
    /// refuses the push (its explanation is in the error) or does not answer
    /// within the timeout.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in that nothing is left half done on this side: dropping
    /// the future abandons the request. Whether the gateway applied it is
    /// then unknown; pushing again is harmless, as a push replaces the group.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // Needs a Pushgateway listening on localhost:9091.
    /// use winddown_prometheus::{PrometheusMetrics, Pushgateway};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), winddown_prometheus::PushError> {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let gateway = Pushgateway::new("http://localhost:9091", "orders")?.instance("orders-0");
    /// gateway.push(metrics.render()).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn push(&self, text: impl Into<Bytes>) -> Result<(), PushError> {
        self.send(Method::PUT, text.into()).await
    }

    /// Removes the group from the gateway with a `DELETE`.
    ///
    /// # Errors
    ///
    /// As for [`push`](Self::push).
    ///
    /// # Cancel safety
    ///
    /// As for [`push`](Self::push): deleting again is harmless.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // Needs a Pushgateway listening on localhost:9091; run from a cleanup
    /// // job once the group is no longer wanted.
    /// use winddown_prometheus::Pushgateway;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), winddown_prometheus::PushError> {
    /// Pushgateway::new("http://localhost:9091", "orders")?
    ///     .instance("orders-0")
    ///     .delete()
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete(&self) -> Result<(), PushError> {
        self.send(Method::DELETE, Bytes::new()).await
    }

    async fn send(&self, method: Method, body: Bytes) -> Result<(), PushError> {
        let url = self.group_url();
        match tokio::time::timeout(self.timeout, self.exchange(method, body, &url)).await {
            Ok(result) => result,
            Err(_) => Err(PushError::Timeout {
                url,
                timeout: self.timeout,
            }),
        }
    }

    async fn exchange(&self, method: Method, body: Bytes, url: &str) -> Result<(), PushError> {
        let http = |source| PushError::Http {
            url: url.to_owned(),
            source,
        };
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| PushError::Connect {
                address: self.authority.clone(),
                source,
            })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        let connection = tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(self.group_path())
            .header(HOST, &self.authority);
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, CONTENT_TYPE_TEXT);
        }
        let request = request
            .body(Full::new(body))
            .expect("method, path and headers are valid");
        let result = async {
            let response = sender.send_request(request).await.map_err(http)?;
            let status = response.status();
            // Read a bounded start of the answer only: the gateway may send
            // anything, for as long as the timeout lets it.
            let mut body = response.into_body();
            let mut answer = Vec::new();
            while answer.len() <= MAX_ERROR_BODY {
                match body.frame().await {
                    Some(frame) => {
                        if let Ok(data) = frame.map_err(http)?.into_data() {
                            answer.extend_from_slice(&data);
                        }
                    }
                    None => break,
                }
            }
            if status.is_success() {
                return Ok(());
            }
            Err(PushError::Status {
                url: url.to_owned(),
                status,
                body: bounded_line(&answer, MAX_ERROR_BODY),
            })
        }
        .await;
        connection.abort();
        result
    }
}

/// A TCP port to connect to: 1 to 65535, in decimal digits only
/// (`u16::from_str` would take "+80").
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&port| port != 0)
}

/// One `label/value` pair of the grouping key, base64url-encoded when the
/// value is not a plain path segment.
fn segment(label: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    if plain {
        format!("{label}/{value}")
    } else if value.is_empty() {
        format!("{label}@base64/=")
    } else {
        format!("{label}@base64/{}", base64url(value.as_bytes()))
    }
}

/// RFC 4648 §5 (URL and filename safe alphabet), with padding.
fn base64url(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("/var/tmp", "L3Zhci90bXA="),
        ];
        for (input, expected) in cases {
            assert_eq!(base64url(input.as_bytes()), expected, "{input:?}");
        }
        // The URL-safe alphabet: `-` and `_` instead of `+` and `/`.
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8=");
    }

    #[test]
    fn grouping_key_segments() {
        assert_eq!(segment("instance", "orders-0"), "instance/orders-0");
        assert_eq!(segment("instance", "10.0.0.7"), "instance/10.0.0.7");
        assert_eq!(segment("job", "a/b"), "job@base64/YS9i");
        assert_eq!(segment("instance", ""), "instance@base64/=");
        assert_eq!(segment("instance", ".."), "instance@base64/Li4=");
        assert_eq!(
            segment("instance", "host:9000"),
            "instance@base64/aG9zdDo5MDAw"
        );
    }

    #[test]
    fn urls_are_checked() {
        let message = |url: &str| Pushgateway::new(url, "svc").unwrap_err().to_string();
        assert_eq!(
            message("pushgateway:9091"),
            "invalid Pushgateway URL \"pushgateway:9091\": it has no scheme; expected a base URL like \"http://pushgateway:9091\""
        );
        assert_eq!(
            message("http://"),
            "invalid Pushgateway URL \"http://***\": it is not a valid URL (only its scheme is shown: it may hold a password); expected a base URL like \"http://pushgateway:9091\""
        );
        assert_eq!(
            message("http://gw:9091#x"),
            "invalid Pushgateway URL \"http://gw:9091#***\": it has a fragment (#…); expected a base URL like \"http://pushgateway:9091\""
        );
        assert_eq!(
            message("http://gw:9091/?x=1"),
            "invalid Pushgateway URL \"http://gw:9091/?***\": it has a query string; expected a base URL like \"http://pushgateway:9091\""
        );
        assert_eq!(
            message("http://user:s3cret@gw:9091"),
            "invalid Pushgateway URL \"http://***@gw:9091\": credentials in the URL are not supported (the push sends no Authorization header; put a proxy that adds it in front of the gateway); expected a base URL like \"http://pushgateway:9091\""
        );
        for url in [
            "http://u:s3cret@gw:9091",
            "http://u:s3c@ret@gw",
            "u:s3cret@gw:9091",
            "ftp://u:s3cret@gw",
        ] {
            let shown = message(url);
            assert!(!shown.contains("s3c"), "{shown}");
            assert!(
                shown.contains("credentials in the URL are not supported"),
                "{shown}"
            );
        }
        assert!(matches!(
            Pushgateway::new("http://gw:9091", ""),
            Err(PushError::EmptyJob)
        ));
    }

    #[test]
    fn a_port_after_the_colon_is_a_number_from_1_to_65535() {
        for (port, shown) in [
            ("99999", "99999"),
            ("65536", "65536"),
            ("9x91", "9x91"),
            ("-1", "-1"),
            ("+80", "+80"),
            ("0", "0"),
            ("", ""),
        ] {
            for host in ["gw", "[::1]"] {
                let url = format!("http://{host}:{port}/prefix");
                let error = Pushgateway::new(&url, "svc").unwrap_err();
                assert_eq!(
                    error.to_string(),
                    format!(
                        "invalid Pushgateway URL {url:?}: its port {shown:?} is not a number from 1 to 65535 (leave out the \":\" for port 80); expected a base URL like \"http://pushgateway:9091\""
                    )
                );
            }
        }
        for (url, port) in [
            ("http://gw:1", 1),
            ("http://gw:09091", 9091),
            ("http://gw:65535/", 65535),
            ("http://[::1]:9091", 9091),
            ("http://[::1]", 80),
            ("http://gw", 80),
        ] {
            assert_eq!(Pushgateway::new(url, "svc").unwrap().port, port, "{url}");
        }
    }

    #[test]
    fn prefix_and_ipv6() {
        let gw = Pushgateway::new("http://[::1]:9091/gateway/", "svc")
            .unwrap()
            .instance("a b");
        assert_eq!(gw.host, "::1");
        assert_eq!(gw.port, 9091);
        assert_eq!(
            gw.group_url(),
            "http://[::1]:9091/gateway/metrics/job/svc/instance@base64/YSBi"
        );
        let gw = Pushgateway::new("http://gw", "svc").unwrap();
        assert_eq!(gw.port, 80);
    }
}
