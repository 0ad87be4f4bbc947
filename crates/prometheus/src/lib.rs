//! Prometheus glue for winddown: serve `/metrics` from the service's own
//! router, and get the last shutdown's timings out although the process
//! exits right after recording them.
//!
//! - [`PrometheusMetrics::install`] installs a `metrics-exporter-prometheus`
//!   recorder with histogram buckets that fit shutdown steps
//!   ([`DURATION_BUCKETS`](winddown_core::metric_names::DURATION_BUCKETS)) and
//!   describes every `winddown_*` metric.
//! - [`PrometheusMetrics::service`] is a tower service rendering the text
//!   format: mount it with axum's `route_service("/metrics", ..)` or call it
//!   from plain hyper.
//! - [`FinalExport`] runs as the last step of the shutdown sequence (see
//!   [`Shutdown::before_done`](winddown_core::Shutdown::before_done)), once
//!   every hook and sequence figure is recorded and while the server still
//!   answers. It does any of:
//!   - **linger**: keep `/metrics` up until one more scrape has been served,
//!     or a bounded time has passed, whichever is first;
//!   - **push** once to a Prometheus [`Pushgateway`];
//!   - **write** a node_exporter textfile atomically ([`write_textfile`]).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use http::Request;
//! use http_body_util::{BodyExt, Empty};
//! use tower_service::Service;
//! use winddown_core::Shutdown;
//! use winddown_prometheus::{FinalExport, PrometheusMetrics};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // Once at startup (here a recorder local to the example).
//! let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
//! let _guard = metrics::set_default_local_recorder(&recorder);
//!
//! let shutdown = Shutdown::builder().no_signals().build();
//! shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
//! FinalExport::new(&metrics)
//!     .linger(Duration::ZERO) // e.g. the `metrics.linger` setting
//!     .register(&shutdown)
//!     .unwrap();
//!
//! shutdown.trigger();
//! shutdown.run().await;
//!
//! // What a scrape of `/metrics` returns.
//! let mut service = metrics.service();
//! let response = service.call(Request::get("/metrics").body(Empty::<bytes::Bytes>::new()).unwrap()).await.unwrap();
//! let text = response.into_body().collect().await.unwrap().to_bytes();
//! let text = std::str::from_utf8(&text).unwrap();
//! assert!(text.contains(r#"winddown_hook_duration_seconds_count{hook="db",phase="close",outcome="ok"} 1"#));
//! # }
//! ```

mod error;
mod export;
mod linger;
mod pushgateway;
mod recorder;
pub mod service;
mod textfile;

pub use error::{InstallError, PushError};
pub use export::{ExportReport, FinalExport};
pub use linger::LingerOutcome;
pub use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
pub use pushgateway::Pushgateway;
pub use recorder::PrometheusMetrics;
pub use service::MetricsService;
pub use textfile::write_textfile;
