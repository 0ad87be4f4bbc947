//! Installing the Prometheus recorder, and the handle that renders it.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::Gauge;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use winddown_core::metric_names::{
    ABANDONED_REQUESTS_TOTAL, ANNOUNCE_DURATION_SECONDS, DRAIN_DURATION_SECONDS, DURATION_BUCKETS,
    HOOK_DURATION_SECONDS, INFLIGHT_REQUESTS, REJECTED_REQUESTS_TOTAL, SHUTDOWN_DURATION_SECONDS,
    STATE, describe,
};
use winddown_core::{RequestGate, Shutdown};

use crate::linger::{LingerOutcome, Scrapes};
use crate::{FinalExport, InstallError, MetricsService};

/// How often the installed recorder's upkeep runs (drains histogram samples
/// between scrapes so memory stays bounded).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The winddown duration histograms, which get [`DURATION_BUCKETS`].
const HISTOGRAMS: [&str; 4] = [
    HOOK_DURATION_SECONDS,
    SHUTDOWN_DURATION_SECONDS,
    ANNOUNCE_DURATION_SECONDS,
    DRAIN_DURATION_SECONDS,
];

pub(crate) struct Shared {
    pub(crate) handle: PrometheusHandle,
    pub(crate) scrapes: Scrapes,
    /// The gates of the tracked shutdowns, and this recorder's
    /// `winddown_inflight_requests` gauge that each render sets to the sum
    /// of their counts, and `winddown_state` gauge, set to the most advanced
    /// of their states (so a running service reports 0, not nothing).
    tracked: Mutex<Vec<RequestGate>>,
    in_flight: Gauge,
    state: Gauge,
}

impl Shared {
    /// Renders every metric, with the tracked requests in flight counted
    /// now.
    pub(crate) fn render(&self) -> String {
        let tracked = self.tracked.lock().unwrap_or_else(PoisonError::into_inner);
        if !tracked.is_empty() {
            let count: usize = tracked.iter().map(RequestGate::in_flight_count).sum();
            // Lossless for any count below 2^53.
            #[allow(clippy::cast_precision_loss)]
            self.in_flight.set(count as f64);
            if let Some(state) = tracked.iter().map(RequestGate::state).max() {
                self.state.set(f64::from(state.as_u8()));
            }
        }
        drop(tracked);
        self.handle.render()
    }
}

/// A handle to the Prometheus recorder: renders the text format, serves
/// `/metrics`, lingers for a last scrape. Cheap to clone.
///
/// Get one with [`install`](Self::install) (the global recorder, once per
/// process) or [`build`](Self::build) (a recorder you install yourself, e.g.
/// locally in a test).
///
/// # Examples
///
/// ```no_run
/// use winddown_prometheus::PrometheusMetrics;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let metrics = PrometheusMetrics::install()?;
/// let app: axum::Router = axum::Router::new().route_service("/metrics", metrics.service());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PrometheusMetrics {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("scrapes", &self.scrapes())
            .finish_non_exhaustive()
    }
}

impl PrometheusMetrics {
    /// The exporter builder winddown starts from: a plain
    /// [`PrometheusBuilder`] with [`DURATION_BUCKETS`] for the winddown
    /// duration histograms (other histograms keep the exporter's defaults).
    /// Customise it and pass it to [`install_with`](Self::install_with).
    ///
    /// ```
    /// use winddown_prometheus::{Matcher, PrometheusMetrics};
    ///
    /// let builder = PrometheusMetrics::exporter()
    ///     .add_global_label("service", "orders")
    ///     .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &[1e3, 1e6, 1e9])
    ///     .unwrap();
    /// # let _ = builder;
    /// ```
    pub fn exporter() -> PrometheusBuilder {
        with_winddown_buckets(PrometheusBuilder::new())
    }

    /// Installs the global recorder built from [`exporter`](Self::exporter),
    /// describes every winddown metric, and (inside a tokio runtime) spawns
    /// the recorder's upkeep task.
    ///
    /// # Errors
    ///
    /// [`InstallError::AlreadyInstalled`] if a global `metrics` recorder is
    /// already installed in this process.
    ///
    /// # Examples
    ///
    /// ```
    /// use winddown_prometheus::{InstallError, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), InstallError> {
    /// // Once, at startup, inside the runtime (for the upkeep task).
    /// let metrics = PrometheusMetrics::install()?;
    /// metrics::counter!("orders_total").increment(1);
    /// assert!(metrics.render().contains("orders_total 1"));
    ///
    /// // A second recorder is refused.
    /// assert_eq!(PrometheusMetrics::install().unwrap_err(), InstallError::AlreadyInstalled);
    /// # Ok(())
    /// # }
    /// ```
    pub fn install() -> Result<PrometheusMetrics, InstallError> {
        PrometheusMetrics::install_with(PrometheusBuilder::new())
    }

    /// Like [`install`](Self::install) with your own builder; the winddown
    /// duration histograms get [`DURATION_BUCKETS`] in any case.
    ///
    /// # Errors
    ///
    /// See [`install`](Self::install).
    ///
    /// # Examples
    ///
    /// ```
    /// use winddown_prometheus::{InstallError, PrometheusBuilder, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), InstallError> {
    /// let builder = PrometheusBuilder::new().add_global_label("service", "orders");
    /// let metrics = PrometheusMetrics::install_with(builder)?;
    /// metrics::counter!("orders_total").increment(1);
    /// assert!(metrics.render().contains(r#"orders_total{service="orders"} 1"#));
    /// # Ok(())
    /// # }
    /// ```
    pub fn install_with(builder: PrometheusBuilder) -> Result<PrometheusMetrics, InstallError> {
        let (recorder, metrics) = PrometheusMetrics::build(builder);
        metrics::set_global_recorder(recorder).map_err(|_| InstallError::AlreadyInstalled)?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = metrics.handle().clone();
            runtime.spawn(async move {
                let mut interval = tokio::time::interval(UPKEEP_INTERVAL);
                loop {
                    interval.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        Ok(metrics)
    }

    /// Builds a recorder without installing it, and the handle to it. The
    /// winddown metrics are already described on the recorder. Install it
    /// yourself (`metrics::set_global_recorder`, or a local recorder in
    /// tests); you are then responsible for calling
    /// [`PrometheusHandle::run_upkeep`] now and then (each render does it
    /// too).
    ///
    /// ```
    /// use winddown_prometheus::PrometheusMetrics;
    ///
    /// let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::counter!("winddown_rejected_requests_total").increment(2);
    /// });
    /// assert!(metrics.render().contains("winddown_rejected_requests_total 2"));
    /// ```
    pub fn build(builder: PrometheusBuilder) -> (PrometheusRecorder, PrometheusMetrics) {
        let recorder = with_winddown_buckets(builder).build_recorder();
        let (in_flight, state) = metrics::with_local_recorder(&recorder, || {
            describe();
            // The counters exist from the start, at 0: `increase()` then
            // sees the first shutdown's rejections and abandons too.
            metrics::counter!(REJECTED_REQUESTS_TOTAL).increment(0);
            metrics::counter!(ABANDONED_REQUESTS_TOTAL).increment(0);
            (metrics::gauge!(INFLIGHT_REQUESTS), metrics::gauge!(STATE))
        });
        let metrics = PrometheusMetrics {
            shared: Arc::new(Shared {
                handle: recorder.handle(),
                scrapes: Scrapes::default(),
                tracked: Mutex::new(Vec::new()),
                in_flight,
                state,
            }),
        };
        (recorder, metrics)
    }

    /// The exporter's own handle.
    ///
    /// ```
    /// use winddown_prometheus::PrometheusMetrics;
    ///
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// // Upkeep drains histogram samples; `install` runs it every 5 s.
    /// metrics.handle().run_upkeep();
    /// ```
    pub fn handle(&self) -> &PrometheusHandle {
        &self.shared.handle
    }

    /// Renders every metric in the Prometheus text format (0.0.4).
    ///
    /// ```
    /// use winddown_prometheus::PrometheusMetrics;
    ///
    /// let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// metrics::with_local_recorder(&recorder, || {
    ///     metrics::histogram!("winddown_hook_duration_seconds", "hook" => "db").record(0.2);
    /// });
    /// let text = metrics.render();
    /// // The winddown duration histograms get buckets sized for shutdown steps.
    /// assert!(text.contains(r#"winddown_hook_duration_seconds_bucket{hook="db",le="0.25"} 1"#));
    /// assert!(text.contains(r#"winddown_hook_duration_seconds_count{hook="db"} 1"#));
    /// ```
    pub fn render(&self) -> String {
        self.shared.render()
    }

    /// Reports the requests in flight of `shutdown` (those its
    /// [`RequestGate`] admitted, e.g. through `winddown_http::DrainLayer`)
    /// as the `winddown_inflight_requests` gauge, counted at each render:
    /// every scrape, push and textfile carries the count of that moment.
    /// Several tracked shutdowns are summed. [`FinalExport::register`] tracks
    /// its shutdown.
    ///
    /// Requests are counted, not reported one by one: a request pays for
    /// no metric on its way through. Without tracking, the gauge is set at
    /// each change of the shutdown's state only.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_prometheus::PrometheusMetrics;
    ///
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// metrics.track(&shutdown);
    ///
    /// let admission = shutdown.request_gate().try_admit();
    /// assert!(metrics.render().contains("winddown_inflight_requests 1"));
    /// drop(admission);
    /// assert!(metrics.render().contains("winddown_inflight_requests 0"));
    /// ```
    pub fn track(&self, shutdown: &Shutdown) {
        let gate = shutdown.request_gate();
        let mut tracked = self
            .shared
            .tracked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !tracked.iter().any(|known| known.same_gate(&gate)) {
            tracked.push(gate);
        }
    }

    /// The tower service answering `GET /metrics`.
    ///
    /// ```
    /// let (_recorder, metrics) =
    ///     winddown_prometheus::PrometheusMetrics::build(winddown_prometheus::PrometheusMetrics::exporter());
    /// let app: axum::Router = axum::Router::new().route_service("/metrics", metrics.service());
    /// # let _ = app;
    /// ```
    pub fn service(&self) -> MetricsService {
        MetricsService::new(self.clone())
    }

    /// How many scrapes have been served (response body handed to the
    /// connection) since start.
    ///
    /// ```
    /// use http::Request;
    /// use http_body_util::{BodyExt, Empty};
    /// use tower::ServiceExt;
    /// use winddown_prometheus::PrometheusMetrics;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let request = Request::get("/metrics").body(Empty::<bytes::Bytes>::new()).unwrap();
    /// let response = metrics.service().oneshot(request).await.unwrap();
    /// assert_eq!(metrics.scrapes(), 0); // rendered, not sent yet
    /// response.into_body().collect().await.unwrap();
    /// assert_eq!(metrics.scrapes(), 1);
    /// # }
    /// ```
    pub fn scrapes(&self) -> u64 {
        self.shared.scrapes.total()
    }

    /// Waits until one more scrape has been served, or `max` has passed,
    /// whichever is first. Only a scrape rendered after this call started
    /// counts, so it carries every figure recorded before. A zero `max`
    /// returns [`LingerOutcome::Off`] at once.
    ///
    /// [`FinalExport`] calls this as the last step of the shutdown sequence;
    /// call it yourself only when you drive the exit differently.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future stops the wait and loses nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_prometheus::{LingerOutcome, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// // Nobody scrapes: the wait ends at the bound.
    /// let outcome = metrics.linger(Duration::from_secs(10)).await;
    /// assert_eq!(outcome, LingerOutcome::TimedOut { waited: Duration::from_secs(10) });
    /// # }
    /// ```
    pub async fn linger(&self, max: Duration) -> LingerOutcome {
        self.shared.scrapes.linger(max).await
    }

    /// The final export for this recorder: see [`FinalExport`]. The same as
    /// [`FinalExport::new`].
    ///
    /// ```
    /// use winddown_prometheus::{LingerOutcome, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// // Nothing configured: it does nothing.
    /// let report = metrics.final_export().run().await;
    /// assert_eq!(report.linger, LingerOutcome::Off);
    /// assert!(report.push.is_none() && report.textfile.is_none());
    /// # }
    /// ```
    pub fn final_export(&self) -> FinalExport {
        FinalExport::new(self)
    }
}

fn with_winddown_buckets(mut builder: PrometheusBuilder) -> PrometheusBuilder {
    for name in HISTOGRAMS {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), DURATION_BUCKETS)
            .expect("DURATION_BUCKETS is not empty");
    }
    builder
}
