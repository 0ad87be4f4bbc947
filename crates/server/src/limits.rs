//! The bounds a connection lives within before done: how long it may take
//! to send its first request, how long it may stay idle, HTTP/2 keep-alive,
//! and how many connections may be open at once.

use std::time::Duration;

/// How long a new connection may take to deliver its first request head
/// (HTTP/1) or the connection preface (HTTP/2).
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay without a request in progress. Above the
/// 60 s idle timeout of common load balancers, so that they, not the
/// server, close the keep-alive connections they pool.
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// How often an HTTP/2 connection is pinged, and how long the answer may
/// take.
pub(crate) const DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
pub(crate) const DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Longer than this is "never" for the timers handed to hyper, which adds
/// them to an `Instant` (and would overflow with `Duration::MAX`).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The per-connection bounds of a [`Server`](crate::Server).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) header_read_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) http2_keep_alive_interval: Option<Duration>,
    pub(crate) http2_keep_alive_timeout: Duration,
    pub(crate) max_connections: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            http2_keep_alive_interval: Some(DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL),
            http2_keep_alive_timeout: DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT,
            max_connections: None,
        }
    }
}

/// `duration` for a hyper timer: `None` (off) when it is beyond any
/// meaningful bound.
pub(crate) fn for_hyper(duration: Option<Duration>) -> Option<Duration> {
    duration.filter(|d| *d < FOREVER)
}

/// The HTTP/2 ping interval for hyper: off when zero (a ping on every
/// poll) or beyond any meaningful bound.
pub(crate) fn ping_interval(interval: Option<Duration>) -> Option<Duration> {
    for_hyper(interval).filter(|d| !d.is_zero())
}

/// `duration`, at most [`FOREVER`].
pub(crate) fn capped(duration: Duration) -> Duration {
    duration.min(FOREVER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_are_off_for_hyper() {
        assert_eq!(for_hyper(Some(Duration::MAX)), None);
        assert_eq!(for_hyper(None), None);
        assert_eq!(
            for_hyper(Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
        assert_eq!(capped(Duration::MAX), FOREVER);
        assert_eq!(ping_interval(Some(Duration::ZERO)), None);
    }
}
