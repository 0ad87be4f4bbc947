//! Logs and metrics: `tracing` set up from `[log]`, and the last shutdown's
//! Prometheus figures flushed as `[metrics]` says.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use winddown::Shutdown;
use winddown::config::{LogConfig, LogFormat, MetricsConfig};
use winddown::prometheus::PrometheusMetrics;

/// Installs the `tracing` subscriber: human-readable lines, or one JSON
/// object per line with `log.format = "json"`. `RUST_LOG` filters (default
/// `info`). Colours only on a terminal.
pub fn init_tracing(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log.format {
        LogFormat::Json => builder.json().init(),
        _ => builder
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .init(),
    }
}

/// Registers the final export of the metrics, run once the cleanup hooks are
/// done: linger for one more scrape of `/metrics`, push to a Pushgateway,
/// write a node_exporter textfile — whichever `[metrics]` turns on.
pub fn export_on_shutdown(
    config: &MetricsConfig,
    metrics: &PrometheusMetrics,
    shutdown: &Shutdown,
) -> Result<(), String> {
    winddown::final_export(metrics, config, env!("CARGO_PKG_NAME"))
        .map_err(|error| format!("metrics.pushgateway: {error}"))?
        .register(shutdown)
        .map_err(|error| format!("final metrics export: {error}"))
}
