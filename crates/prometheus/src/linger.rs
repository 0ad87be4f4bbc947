//! Counting scrapes, and lingering until one more has been served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How a [linger](crate::PrometheusMetrics::linger) ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_prometheus::LingerOutcome;
///
/// let outcome = LingerOutcome::Scraped { waited: Duration::from_millis(700) };
/// assert!(outcome.was_scraped());
/// assert_eq!(outcome.to_string(), "scraped after 0.700s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LingerOutcome {
    /// Lingering is off (a zero bound).
    Off,
    /// Not waited for: nothing had scraped `/metrics` since start, so no
    /// scraper would come for a last scrape (a laptop, a test run). See
    /// [`FinalExport::linger`](crate::FinalExport::linger).
    NoScraper,
    /// A scrape was served after the last figures were recorded.
    Scraped {
        /// How long it took.
        waited: Duration,
    },
    /// Nobody scraped in time.
    TimedOut {
        /// The bound that passed.
        waited: Duration,
    },
}

impl LingerOutcome {
    /// Whether a scrape got the last figures.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_prometheus::LingerOutcome;
    ///
    /// assert!(LingerOutcome::Scraped { waited: Duration::from_secs(1) }.was_scraped());
    /// assert!(!LingerOutcome::TimedOut { waited: Duration::from_secs(10) }.was_scraped());
    /// assert!(!LingerOutcome::NoScraper.was_scraped());
    /// ```
    pub fn was_scraped(&self) -> bool {
        matches!(self, LingerOutcome::Scraped { .. })
    }
}

impl std::fmt::Display for LingerOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LingerOutcome::Off => f.write_str("off"),
            LingerOutcome::NoScraper => {
                f.write_str("skipped: /metrics was never scraped, no scraper to wait for")
            }
            LingerOutcome::Scraped { waited } => {
                write!(f, "scraped after {:.3}s", waited.as_secs_f64())
            }
            LingerOutcome::TimedOut { waited } => {
                write!(f, "no scrape within {:.3}s", waited.as_secs_f64())
            }
        }
    }
}

/// The scrape counters shared by the `/metrics` service and the linger.
#[derive(Debug)]
pub(crate) struct Scrapes {
    total: AtomicU64,
    /// Set when a linger starts: scrapes rendered from then on are "late".
    lingering: AtomicBool,
    /// How many late scrapes have been served.
    late: watch::Sender<u64>,
}

impl Default for Scrapes {
    fn default() -> Self {
        Scrapes {
            total: AtomicU64::new(0),
            lingering: AtomicBool::new(false),
            late: watch::Sender::new(0),
        }
    }
}

impl Scrapes {
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Called before rendering: whether this scrape will count for a linger.
    pub(crate) fn starting(&self) -> bool {
        self.lingering.load(Ordering::SeqCst)
    }

    /// Called once the rendered body has been handed to the connection.
    pub(crate) fn served(&self, late: bool) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if late {
            self.late.send_modify(|n| *n += 1);
        }
    }

    pub(crate) async fn linger(&self, max: Duration) -> LingerOutcome {
        if max.is_zero() {
            return LingerOutcome::Off;
        }
        let start = Instant::now();
        let mut rx = self.late.subscribe();
        // Read the count before raising the flag: every scrape that sees the
        // flag raised is then counted past `seen`.
        let seen = *rx.borrow_and_update();
        self.lingering.store(true, Ordering::SeqCst);
        // Only now: a scrape prompted by this line is sure to count.
        tracing::info!(
            target: "winddown",
            linger_seconds = max.as_secs_f64(),
            "waiting for a last scrape of /metrics"
        );
        let scraped = tokio::time::timeout(max, rx.wait_for(|n| *n > seen)).await;
        match scraped {
            Ok(_) => LingerOutcome::Scraped {
                waited: start.elapsed(),
            },
            Err(_) => LingerOutcome::TimedOut { waited: max },
        }
    }
}
