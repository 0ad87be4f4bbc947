//! Exact names, labels, units and values of what a shutdown records,
//! through metrics-util's debugging recorder.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use winddown_core::metric_names::{
    ABANDONED_REQUESTS_TOTAL, ANNOUNCE_DURATION_SECONDS, DRAIN_DURATION_SECONDS,
    HOOK_DURATION_SECONDS, INFLIGHT_REQUESTS, SHUTDOWN_DURATION_SECONDS, STATE, describe,
};
use winddown_core::{Phase, Shutdown, hook_fn};

/// Runs `future` on a paused current-thread runtime with `recorder` as the
/// thread's recorder, so every task of the sequence records into it.
fn run_recorded<F: Future>(recorder: &DebuggingRecorder, future: F) -> F::Output {
    metrics::with_local_recorder(recorder, || {
        describe();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(future)
    })
}

/// `name{label="value",...}` → (unit, value), labels in recording order.
type Recorded = BTreeMap<String, (Option<Unit>, DebugValue)>;

fn snapshot(recorder: &DebuggingRecorder) -> Recorded {
    recorder
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, _description, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            (name, (unit, value))
        })
        .collect()
}

fn histogram(values: &[f64]) -> DebugValue {
    DebugValue::Histogram(values.iter().map(|v| (*v).into()).collect())
}

#[test]
fn a_shutdown_records_every_step_with_its_labels() {
    let recorder = DebuggingRecorder::new();
    run_recorded(&recorder, async {
        let shutdown = Shutdown::builder()
            .no_signals()
            .announce_delay(Duration::from_millis(200))
            .drain_timeout(Duration::from_millis(400))
            .build();
        shutdown
            .register(
                hook_fn("queue", |_| async {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok(())
                })
                .phase(Phase::STOP_INTAKE),
            )
            .unwrap();
        shutdown
            .on_cleanup("db", |_| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
            .unwrap();
        shutdown
            .register(
                hook_fn("cache", |_| async {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(())
                })
                .timeout(Duration::from_millis(100)),
            )
            .unwrap();
        shutdown
            .on_cleanup("broken", |_| async { Err("connection reset".into()) })
            .unwrap();
        // One request outlives the drain timeout and is abandoned.
        let request = shutdown.in_flight_guard();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(request);
        });
        shutdown.trigger();
        let report = shutdown.run().await;
        assert_eq!(report.abandoned, 1);
    });

    let seconds = Some(Unit::Seconds);
    let count = Some(Unit::Count);
    let expected: Recorded = [
        (
            format!(r#"{HOOK_DURATION_SECONDS}{{hook="queue",phase="stop_intake",outcome="ok"}}"#),
            (seconds, histogram(&[0.15])),
        ),
        (
            format!(r#"{HOOK_DURATION_SECONDS}{{hook="db",phase="close",outcome="ok"}}"#),
            (seconds, histogram(&[0.3])),
        ),
        (
            format!(r#"{HOOK_DURATION_SECONDS}{{hook="cache",phase="close",outcome="timeout"}}"#),
            // 100 ms timeout, then the cancel grace: it ignores its token.
            (seconds, histogram(&[0.2])),
        ),
        (
            format!(r#"{HOOK_DURATION_SECONDS}{{hook="broken",phase="close",outcome="error"}}"#),
            (seconds, histogram(&[0.0])),
        ),
        (
            ANNOUNCE_DURATION_SECONDS.to_owned(),
            (seconds, histogram(&[0.2])),
        ),
        (
            DRAIN_DURATION_SECONDS.to_owned(),
            (seconds, histogram(&[0.4])),
        ),
        (
            SHUTDOWN_DURATION_SECONDS.to_owned(),
            (seconds, histogram(&[1.25])),
        ),
        (
            ABANDONED_REQUESTS_TOTAL.to_owned(),
            (count, DebugValue::Counter(1)),
        ),
        (STATE.to_owned(), (count, DebugValue::Gauge(4.0.into()))),
        // Set at each change of state; the request above is a guard, not
        // an admitted HTTP request.
        (
            INFLIGHT_REQUESTS.to_owned(),
            (count, DebugValue::Gauge(0.0.into())),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(snapshot(&recorder), expected);
}

#[test]
fn the_state_gauge_follows_the_sequence() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let seen = run_recorded(&recorder, async {
        let shutdown = Shutdown::builder()
            .no_signals()
            .announce_delay(Duration::from_secs(1))
            .build();
        let state = move || {
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .find(|(key, ..)| key.key().name() == STATE)
                .map(|(.., value)| value)
        };
        let in_cleanup = std::sync::Arc::new(std::sync::Mutex::new(None));
        shutdown
            .on_cleanup("probe", {
                let (state, in_cleanup) = (state.clone(), in_cleanup.clone());
                move |_| async move {
                    *in_cleanup.lock().unwrap() = state();
                    Ok(())
                }
            })
            .unwrap();
        let before = state();
        shutdown.trigger();
        let announcing = state();
        let driver = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.run().await }
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        driver.await.unwrap();
        let cleanup = in_cleanup.lock().unwrap().take();
        [before, announcing, cleanup, state()]
    });
    assert_eq!(
        seen,
        [
            None,
            Some(DebugValue::Gauge(1.0.into())),
            Some(DebugValue::Gauge(3.0.into())),
            Some(DebugValue::Gauge(4.0.into())),
        ]
    );
}

#[test]
fn every_metric_is_described_with_its_unit() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        describe();
        // Register each one so that the snapshot lists it.
        for name in [
            HOOK_DURATION_SECONDS,
            SHUTDOWN_DURATION_SECONDS,
            ANNOUNCE_DURATION_SECONDS,
            DRAIN_DURATION_SECONDS,
        ] {
            metrics::histogram!(name).record(0.0);
        }
        metrics::counter!(ABANDONED_REQUESTS_TOTAL).increment(0);
        metrics::counter!(winddown_core::metric_names::REJECTED_REQUESTS_TOTAL).increment(0);
        metrics::gauge!(winddown_core::metric_names::INFLIGHT_REQUESTS).set(0.0);
        metrics::gauge!(STATE).set(0.0);
    });
    let described: BTreeMap<String, (Option<Unit>, bool)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, unit, description, _)| {
            (key.key().name().to_owned(), (unit, description.is_some()))
        })
        .collect();
    let seconds = (Some(Unit::Seconds), true);
    let count = (Some(Unit::Count), true);
    assert_eq!(
        described,
        BTreeMap::from([
            ("winddown_abandoned_requests_total".to_owned(), count),
            ("winddown_announce_duration_seconds".to_owned(), seconds),
            ("winddown_drain_duration_seconds".to_owned(), seconds),
            ("winddown_hook_duration_seconds".to_owned(), seconds),
            ("winddown_inflight_requests".to_owned(), count),
            ("winddown_rejected_requests_total".to_owned(), count),
            ("winddown_shutdown_duration_seconds".to_owned(), seconds),
            ("winddown_state".to_owned(), count),
        ])
    );
}
