//! Metric names and recording through the `metrics` facade.
//!
//! Named `metric_names`, not `metrics`, so that `use winddown::*` never
//! shadows the `metrics` crate itself.
//!
//! Every metric winddown records is named here, so exporters and dashboards
//! have one place to look. Call [`describe`] once after installing a
//! recorder to give each metric its help text and unit.
//!
//! # Examples
//!
//! ```
//! use metrics_util::debugging::DebuggingRecorder;
//! use winddown_core::metric_names::{HOOK_DURATION_SECONDS, describe};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     describe();
//!     metrics::histogram!(HOOK_DURATION_SECONDS, "hook" => "db", "phase" => "close", "outcome" => "ok")
//!         .record(0.25);
//! });
//! let snapshot = snapshotter.snapshot().into_vec();
//! assert_eq!(snapshot[0].0.key().name(), "winddown_hook_duration_seconds");
//! ```

use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::{Phase, State};

/// Histogram of each hook's duration, labelled `hook`, `phase`, `outcome`.
pub const HOOK_DURATION_SECONDS: &str = "winddown_hook_duration_seconds";
/// Histogram of the whole sequence, trigger to done.
pub const SHUTDOWN_DURATION_SECONDS: &str = "winddown_shutdown_duration_seconds";
/// Histogram of the announce step.
pub const ANNOUNCE_DURATION_SECONDS: &str = "winddown_announce_duration_seconds";
/// Histogram of the drain step.
pub const DRAIN_DURATION_SECONDS: &str = "winddown_drain_duration_seconds";
/// Gauge of requests in flight (admitted by the request gate): set at each
/// change of state, and at each render by an exporter that tracks the
/// shutdown.
pub const INFLIGHT_REQUESTS: &str = "winddown_inflight_requests";
/// Counter of requests answered 503 because of shutdown (HTTP layer).
pub const REJECTED_REQUESTS_TOTAL: &str = "winddown_rejected_requests_total";
/// Counter of in-flight units cut at the drain timeout.
pub const ABANDONED_REQUESTS_TOTAL: &str = "winddown_abandoned_requests_total";
/// Gauge of the state: 0 running, 1 announcing, 2 draining, 3 cleanup, 4 done.
pub const STATE: &str = "winddown_state";

/// Histogram buckets (seconds) that fit shutdown steps: 1 ms to 60 s.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// Describes every winddown metric (help text and unit) to the installed
/// recorder. Idempotent.
///
/// ```
/// winddown_core::metric_names::describe(); // no recorder: does nothing
/// ```
pub fn describe() {
    describe_histogram!(
        HOOK_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of each shutdown hook of the last shutdown, by hook, phase and outcome."
    );
    describe_histogram!(
        SHUTDOWN_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of the whole shutdown sequence, from trigger to done."
    );
    describe_histogram!(
        ANNOUNCE_DURATION_SECONDS,
        Unit::Seconds,
        "Time spent announcing (readiness failing, traffic still served)."
    );
    describe_histogram!(
        DRAIN_DURATION_SECONDS,
        Unit::Seconds,
        "Time spent waiting for in-flight work to finish."
    );
    describe_gauge!(
        INFLIGHT_REQUESTS,
        Unit::Count,
        "Requests currently in flight."
    );
    describe_counter!(
        REJECTED_REQUESTS_TOTAL,
        Unit::Count,
        "Requests answered 503 because the service is shutting down."
    );
    describe_counter!(
        ABANDONED_REQUESTS_TOTAL,
        Unit::Count,
        "In-flight requests and tasks cut when the drain timeout passed."
    );
    describe_gauge!(
        STATE,
        Unit::Count,
        "Shutdown state: 0 running, 1 announcing, 2 draining, 3 cleanup, 4 done."
    );
}

pub(crate) fn record_state(state: State) {
    gauge!(STATE).set(f64::from(state.as_u8()));
}

pub(crate) fn record_in_flight_requests(count: usize) {
    // Lossless for any count below 2^53.
    #[allow(clippy::cast_precision_loss)]
    gauge!(INFLIGHT_REQUESTS).set(count as f64);
}

pub(crate) fn record_hook(name: &str, phase: Phase, outcome: &'static str, duration: Duration) {
    histogram!(
        HOOK_DURATION_SECONDS,
        "hook" => name.to_owned(),
        "phase" => phase.to_string(),
        "outcome" => outcome
    )
    .record(duration.as_secs_f64());
}

pub(crate) fn record_sequence(report: &crate::ShutdownReport) {
    histogram!(ANNOUNCE_DURATION_SECONDS).record(report.announce.as_secs_f64());
    histogram!(DRAIN_DURATION_SECONDS).record(report.drain.as_secs_f64());
    histogram!(SHUTDOWN_DURATION_SECONDS).record(report.total.as_secs_f64());
    counter!(ABANDONED_REQUESTS_TOTAL).increment(report.abandoned as u64);
}
