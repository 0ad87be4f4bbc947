//! Errors of the Prometheus glue.

use std::io;
use std::time::Duration;

/// Installing the global recorder failed.
///
/// # Examples
///
/// ```
/// use winddown_prometheus::InstallError;
///
/// assert_eq!(
///     InstallError::AlreadyInstalled.to_string(),
///     "cannot install the Prometheus recorder: a metrics recorder is already installed in this process; install it once, at startup"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// A global `metrics` recorder was installed before.
    #[error(
        "cannot install the Prometheus recorder: a metrics recorder is already installed in this process; install it once, at startup"
    )]
    AlreadyInstalled,
}

/// Pushing to a Pushgateway failed, or its address is not usable.
///
/// # Examples
///
/// ```
/// use winddown_prometheus::Pushgateway;
///
/// let err = Pushgateway::new("https://pushgateway:9091", "orders").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid Pushgateway URL \"https://pushgateway:9091\": only http:// is supported; expected a base URL like \"http://pushgateway:9091\""
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The base URL cannot be used. The URL in it has any user
    /// information replaced by `***`, or, if it does not parse, shows only
    /// its scheme (`http://***`).
    #[error(
        "invalid Pushgateway URL {url:?}: {reason}; expected a base URL like \"http://pushgateway:9091\""
    )]
    InvalidUrl {
        /// The URL as given, user information hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The job name is empty.
    #[error("the Pushgateway job name must not be empty; use the service's name")]
    EmptyJob,
    /// The TCP connection failed.
    #[error("cannot connect to the Pushgateway at {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP error talking to the Pushgateway at {url}: {source}")]
    Http {
        /// The group URL.
        url: String,
        /// The hyper error.
        #[source]
        source: hyper::Error,
    },
    /// The Pushgateway refused the request.
    #[error("the Pushgateway at {url} answered {status}: {body}")]
    Status {
        /// The group URL.
        url: String,
        /// The status it answered.
        status: http::StatusCode,
        /// The start of its answer (it explains what it refused): at most
        /// 512 bytes, on one line, control characters escaped (`\n`,
        /// `\u{1b}`), so a hostile gateway cannot forge log lines.
        body: String,
    },
    /// It took longer than the push timeout.
    #[error("no answer from the Pushgateway at {url} within {:.3}s", timeout.as_secs_f64())]
    Timeout {
        /// The group URL.
        url: String,
        /// The timeout that passed.
        timeout: Duration,
    },
}
