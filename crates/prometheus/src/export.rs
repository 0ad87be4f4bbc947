//! The last step of the shutdown: get the figures out before the exit.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tracing::{info, warn};
use winddown_core::{RegisterError, Shutdown};

use crate::textfile::shown_path;
use crate::{LingerOutcome, PrometheusMetrics, PushError, Pushgateway, write_textfile};

/// Gets the last shutdown's figures out although the process exits: linger
/// for one more scrape, push once to a Pushgateway, write a textfile.
///
/// [`register`](Self::register) runs it as a
/// [`Shutdown::before_done`] step: after every hook has run and the sequence
/// metrics (`winddown_shutdown_duration_seconds`, …) are recorded, and before
/// the state becomes done, so that a server which keeps its listener open
/// until done (as winddown's does) can still answer the last scrape. If your
/// server stops listening earlier (say at draining), only the push and the
/// textfile get out.
///
/// The three run at once, from one render of the metrics (a late scrape
/// renders again):
///
/// - **linger** (off when zero): waits until one scrape of `/metrics` that
///   started after the figures were final has been served, or the bound
///   passed. Pick a bound a bit above the scrape interval. Only when a
///   scraper exists: if `/metrics` was never scraped since start, nobody
///   will come for a last scrape (a laptop, a CI run), so it logs that once
///   and goes on at once ([`LingerOutcome::NoScraper`]).
/// - **push**: one `PUT` to the [`Pushgateway`] group, bounded by its
///   timeout.
/// - **textfile**: [`write_textfile`] to the path.
///
/// None of them is bounded by the shutdown's global deadline (the report is
/// already final): count `linger` (or the push timeout, if longer) in the
/// platform's grace period. Failures are logged through `tracing`, never
/// fatal.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_core::Shutdown;
/// use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
/// let _guard = metrics::set_default_local_recorder(&recorder);
/// let dir = std::env::temp_dir().join(format!("winddown-export-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
/// let export = FinalExport::new(&metrics).textfile(dir.join("orders.prom"));
/// export.clone().register(&shutdown).unwrap();
/// shutdown.trigger();
/// shutdown.run().await;
///
/// let text = std::fs::read_to_string(dir.join("orders.prom")).unwrap();
/// assert!(text.contains(r#"winddown_hook_duration_seconds_count{hook="db",phase="close",outcome="ok"} 1"#));
/// assert!(text.contains("winddown_shutdown_duration_seconds_count 1"));
///
/// // Or run it by hand.
/// let report = export.run().await;
/// assert_eq!(report.linger, LingerOutcome::Off);
/// assert!(report.push.is_none());
/// assert!(report.textfile.unwrap().is_ok());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "register it with a Shutdown, or run it"]
pub struct FinalExport {
    metrics: PrometheusMetrics,
    linger: Duration,
    pushgateway: Option<Pushgateway>,
    textfile: Option<PathBuf>,
}

/// What a [`FinalExport`] did.
///
/// See [`FinalExport::new`] for an example.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExportReport {
    /// How the linger ended.
    pub linger: LingerOutcome,
    /// The push's result, if a Pushgateway was set.
    pub push: Option<Result<(), PushError>>,
    /// The written path or the error, if a textfile was set.
    pub textfile: Option<io::Result<PathBuf>>,
}

impl FinalExport {
    /// An export of `metrics` that does nothing until told.
    ///
    /// ```
    /// use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let report = FinalExport::new(&metrics).run().await;
    /// assert_eq!(report.linger, LingerOutcome::Off);
    /// assert!(report.push.is_none() && report.textfile.is_none());
    /// # }
    /// ```
    pub fn new(metrics: &PrometheusMetrics) -> Self {
        FinalExport {
            metrics: metrics.clone(),
            linger: Duration::ZERO,
            pushgateway: None,
            textfile: None,
        }
    }

    /// Wait up to `max` for one more scrape (zero: off, the default).
    ///
    /// Only if `/metrics` (a [`MetricsService`](crate::MetricsService) of
    /// these metrics) has served at least one scrape since start, before
    /// the export runs: a scraper seen before the shutdown (or during it)
    /// comes back for the last figures, while a process nobody scrapes (a
    /// service started on a laptop, then Ctrl+C) has no one to wait for and
    /// exits at once, logging that no scraper was seen. To wait whatever
    /// happened before, call [`PrometheusMetrics::linger`] yourself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::Request;
    /// use http_body_util::{BodyExt, Empty};
    /// use tower::ServiceExt;
    /// use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let export = FinalExport::new(&metrics).linger(Duration::from_secs(20));
    ///
    /// // Never scraped: nobody to wait for.
    /// assert_eq!(export.run().await.linger, LingerOutcome::NoScraper);
    ///
    /// // Scraped once, then not again: it waits up to the bound.
    /// let scrape = Request::get("/metrics").body(Empty::<bytes::Bytes>::new()).unwrap();
    /// let response = metrics.service().oneshot(scrape).await.unwrap();
    /// response.into_body().collect().await.unwrap();
    /// assert_eq!(
    ///     export.run().await.linger,
    ///     LingerOutcome::TimedOut { waited: Duration::from_secs(20) }
    /// );
    /// # }
    /// ```
    pub fn linger(mut self, max: Duration) -> Self {
        self.linger = max;
        self
    }

    /// Push once to this Pushgateway group.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_prometheus::{FinalExport, PrometheusMetrics, Pushgateway};
    ///
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let gateway = Pushgateway::new("http://pushgateway:9091", "orders")?
    ///     .instance("orders-0")
    ///     .timeout(Duration::from_secs(2));
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// // Pushes when the shutdown sequence ends (not in this example).
    /// FinalExport::new(&metrics).pushgateway(gateway).register(&shutdown).unwrap();
    /// # Ok::<(), winddown_prometheus::PushError>(())
    /// ```
    pub fn pushgateway(mut self, gateway: Pushgateway) -> Self {
        self.pushgateway = Some(gateway);
        self
    }

    /// Write a node_exporter textfile at this path (atomically, see
    /// [`write_textfile`]).
    ///
    /// ```
    /// use winddown_prometheus::{FinalExport, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// metrics::with_local_recorder(&recorder, || metrics::counter!("orders_total").increment(3));
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("orders.prom");
    ///
    /// let report = FinalExport::new(&metrics).textfile(&path).run().await;
    /// assert_eq!(report.textfile.unwrap().unwrap(), path);
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("orders_total 3"));
    /// # }
    /// ```
    pub fn textfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.textfile = Some(path.into());
        self
    }

    /// Registers the export as a [`Shutdown::before_done`] step, and
    /// [tracks](PrometheusMetrics::track) the shutdown's requests in flight
    /// in every render.
    ///
    /// # Errors
    ///
    /// [`RegisterError`] once shutdown has been triggered.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_prometheus::{FinalExport, PrometheusMetrics};
    ///
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// FinalExport::new(&metrics).register(&shutdown).unwrap();
    ///
    /// shutdown.trigger();
    /// assert!(FinalExport::new(&metrics).register(&shutdown).is_err()); // too late
    /// ```
    pub fn register(self, shutdown: &Shutdown) -> Result<(), RegisterError> {
        self.metrics.track(shutdown);
        shutdown.before_done("prometheus-final-export", move |_report| async move {
            self.run().await;
        })
    }

    /// Renders the metrics and does the configured exports at once; logs
    /// and returns what happened.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled textfile write still completes in the
    /// background, atomically; a cancelled push may or may not have reached
    /// the gateway (pushing again is harmless: a push replaces the group).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let dir = tempfile::tempdir().unwrap();
    /// let report = FinalExport::new(&metrics)
    ///     .linger(Duration::from_secs(20))
    ///     .textfile(dir.path().join("orders.prom"))
    ///     .run()
    ///     .await;
    /// assert_eq!(report.linger, LingerOutcome::NoScraper);
    /// assert!(report.textfile.unwrap().is_ok());
    /// assert!(report.push.is_none());
    /// # }
    /// ```
    pub async fn run(&self) -> ExportReport {
        let text = self.metrics.render();
        let push = async {
            let gateway = self.pushgateway.as_ref()?;
            let result = gateway.push(text.clone()).await;
            match &result {
                Ok(()) => {
                    info!(target: "winddown", url = %gateway.group_url(), "pushed metrics to the Pushgateway")
                }
                Err(error) => {
                    warn!(target: "winddown", %error, "could not push metrics to the Pushgateway")
                }
            }
            Some(result)
        };
        let textfile = async {
            let path = self.textfile.clone()?;
            let contents = text.clone();
            let result = tokio::task::spawn_blocking(move || {
                write_textfile(&path, &contents).map(|()| path)
            })
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join.to_string())));
            match &result {
                Ok(path) => {
                    info!(target: "winddown", path = %shown_path(path), "wrote metrics textfile")
                }
                Err(error) => warn!(target: "winddown", %error, "could not write metrics textfile"),
            }
            Some(result)
        };
        let linger = async {
            if self.linger.is_zero() {
                return LingerOutcome::Off;
            }
            if self.metrics.scrapes() == 0 {
                info!(
                    target: "winddown",
                    linger_seconds = self.linger.as_secs_f64(),
                    "no scraper seen: /metrics was never scraped since start, so there is no last scrape to wait for"
                );
                return LingerOutcome::NoScraper;
            }
            let outcome = self.metrics.linger(self.linger).await;
            match outcome {
                LingerOutcome::TimedOut { .. } => {
                    warn!(target: "winddown", "linger: {outcome}; the last figures were not scraped")
                }
                _ => info!(target: "winddown", "linger: {outcome}"),
            }
            outcome
        };
        let (push, textfile, linger) = tokio::join!(push, textfile, linger);
        ExportReport {
            linger,
            push,
            textfile,
        }
    }
}
