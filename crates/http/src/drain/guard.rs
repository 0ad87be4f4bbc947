//! The in-flight guard of one request, mirrored in the metrics gauge.

use std::fmt;
use std::sync::Arc;

use metrics::{Gauge, Key, Level, Metadata};
use winddown_core::metric_names::INFLIGHT_REQUESTS;
use winddown_core::{InFlightGuard, Shutdown};

use super::layer::Config;

/// The gauge's key, hashed once at compile time (`gauge!` with a name that
/// is not a literal would build and hash the key on every request).
static GAUGE_KEY: Key = Key::from_static_name(INFLIGHT_REQUESTS);
static GAUGE_METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The `winddown_inflight_requests` gauge of the recorder in effect now.
fn register_gauge() -> Gauge {
    metrics::with_recorder(|recorder| recorder.register_gauge(&GAUGE_KEY, &GAUGE_METADATA))
}

/// The layer's shared settings and shutdown handle, as the owner of a
/// request's in-flight guard: one `Arc` per request keeps both.
pub(crate) struct Shared(pub(crate) Arc<Config>);

impl AsRef<Shutdown> for Shared {
    #[inline]
    fn as_ref(&self) -> &Shutdown {
        &self.0.shutdown
    }
}

/// Counts one request in flight, in the shutdown (draining waits on it) and
/// in the `winddown_inflight_requests` gauge, until dropped.
pub(crate) struct RequestGuard {
    in_flight: InFlightGuard<Shared>,
}

impl RequestGuard {
    /// Counts a request in flight, unless the shutdown has started draining
    /// (`None`: nothing counted). One atomic operation decides both.
    #[inline]
    pub(crate) fn try_new(config: &Arc<Config>) -> Option<Self> {
        let in_flight = InFlightGuard::try_new(Shared(config.clone())).ok()?;
        config
            .in_flight_gauge
            .get_or_init(register_gauge)
            .increment(1.0);
        Some(RequestGuard { in_flight })
    }

    #[inline]
    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.in_flight.owner().0
    }

    #[inline]
    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.config().shutdown
    }
}

impl Drop for RequestGuard {
    #[inline]
    fn drop(&mut self) {
        // Set by `try_new`, before the increment this balances.
        if let Some(gauge) = self.config().in_flight_gauge.get() {
            gauge.decrement(1.0);
        }
    }
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard").finish_non_exhaustive()
    }
}
