//! The in-flight guard of one request, mirrored in the metrics gauge.

use std::fmt;

use metrics::{Gauge, Key, Level, Metadata};
use winddown_core::metrics::INFLIGHT_REQUESTS;
use winddown_core::{InFlightGuard, Shutdown};

/// The gauge's key, hashed once at compile time (`gauge!` with a name that
/// is not a literal would build and hash the key on every request).
static GAUGE_KEY: Key = Key::from_static_name(INFLIGHT_REQUESTS);
static GAUGE_METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The `winddown_inflight_requests` gauge of the recorder in effect now.
pub(crate) fn register_gauge() -> Gauge {
    metrics::with_recorder(|recorder| recorder.register_gauge(&GAUGE_KEY, &GAUGE_METADATA))
}

/// Counts one request in flight, in the shutdown (draining waits on it) and
/// in the `winddown_inflight_requests` gauge, until dropped.
pub(crate) struct RequestGuard {
    _in_flight: InFlightGuard,
    gauge: Gauge,
}

impl RequestGuard {
    pub(crate) fn new(shutdown: &Shutdown, gauge: &Gauge) -> Self {
        gauge.increment(1.0);
        RequestGuard {
            _in_flight: shutdown.in_flight(),
            gauge: gauge.clone(),
        }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard").finish_non_exhaustive()
    }
}
