//! Glue between the configuration and the Prometheus parts.

use winddown_config::MetricsConfig;
use winddown_prometheus::{FinalExport, PrometheusMetrics, PushError, Pushgateway};

/// The final export of `metrics` that `config` (`[metrics]`) asks for:
/// `linger`, `pushgateway` (grouped by `job` and `push_instance`) and
/// `textfile`. Register it with [`FinalExport::register`].
///
/// # Errors
///
/// [`PushError`] when `metrics.pushgateway` is not a usable URL (one with
/// credentials included: the message shows them as `***`) or `job` is
/// empty. A configuration loaded with [`Config::load`](crate::config::Config::load)
/// has a usable URL already.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown::Shutdown;
/// use winddown::config::Config;
/// use winddown::prometheus::PrometheusMetrics;
///
/// let config = Config::load_from(
///     None,
///     [
///         ("APP__METRICS__LINGER", "10s"),
///         ("APP__METRICS__PUSHGATEWAY", "http://127.0.0.1:9091"),
///         ("APP__METRICS__PUSH_INSTANCE", "orders-0"),
///     ],
/// )
/// .unwrap();
/// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
/// let export = winddown::final_export(&metrics, &config.metrics, "orders").unwrap();
/// let shutdown = Shutdown::builder().no_signals().build();
/// export.register(&shutdown).unwrap();
/// ```
pub fn final_export(
    metrics: &PrometheusMetrics,
    config: &MetricsConfig,
    job: &str,
) -> Result<FinalExport, PushError> {
    let mut export = FinalExport::new(metrics).linger(config.linger);
    if let Some(url) = &config.pushgateway {
        // The bound the budget check counts.
        let mut gateway = Pushgateway::new(url, job)?.timeout(winddown_config::PUSHGATEWAY_TIMEOUT);
        if let Some(instance) = &config.push_instance {
            gateway = gateway.instance(instance.clone());
        }
        export = export.pushgateway(gateway);
    }
    if let Some(path) = &config.textfile {
        export = export.textfile(path.clone());
    }
    Ok(export)
}
