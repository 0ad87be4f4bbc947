//! The layer's metrics, through the `metrics` facade.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tower::{ServiceExt, service_fn};
use winddown_core::Shutdown;
use winddown_core::metric_names::{INFLIGHT_REQUESTS, REJECTED_REQUESTS_TOTAL};
use winddown_http::Drain;

/// The gauge's latest value and the counter's running total: the debugging
/// recorder reports a gauge's value but resets counters on each snapshot.
#[derive(Default)]
struct Totals {
    in_flight: Option<f64>,
    rejected: u64,
}

impl Totals {
    fn update(&mut self, snapshotter: &Snapshotter) -> &Self {
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            match (key.key().name(), value) {
                (INFLIGHT_REQUESTS, DebugValue::Gauge(v)) => self.in_flight = Some(v.0),
                (REJECTED_REQUESTS_TOTAL, DebugValue::Counter(v)) => self.rejected += v,
                _ => {}
            }
        }
        self
    }
}

// A current-thread runtime keeps every poll on this thread, where the local
// recorder is installed.
#[tokio::test(start_paused = true)]
async fn in_flight_gauge_and_rejected_counter() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let shutdown = Shutdown::builder()
        .no_signals()
        .drain_timeout(Duration::from_secs(5))
        .build();
    let service = Drain::new(
        service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("x"))))
        }),
        shutdown.clone(),
    );
    let gate = shutdown.request_gate();

    let first = service.clone().oneshot(Request::new(())).await.unwrap();
    let second = service.clone().oneshot(Request::new(())).await.unwrap();
    let mut totals = Totals::default();
    // Requests are counted, not reported one by one.
    assert_eq!(totals.update(&snapshotter).in_flight, None);
    gate.record_in_flight();
    assert_eq!(totals.update(&snapshotter).in_flight, Some(2.0));
    first.into_body().collect().await.unwrap();
    gate.record_in_flight();
    assert_eq!(totals.update(&snapshotter).in_flight, Some(1.0));
    drop(second);
    gate.record_in_flight();
    assert_eq!(totals.update(&snapshotter).in_flight, Some(0.0));
    assert_eq!(totals.rejected, 0);

    // Each change of state reports the count of that moment.
    let held = service.clone().oneshot(Request::new(())).await.unwrap();
    shutdown.trigger();
    assert_eq!(totals.update(&snapshotter).in_flight, Some(1.0));
    let run = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    shutdown.draining().await;
    assert_eq!(totals.update(&snapshotter).in_flight, Some(1.0));
    for _ in 0..3 {
        let response = service.clone().oneshot(Request::new(())).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    // Exempt requests are neither counted nor rejected.
    let probe = service
        .oneshot(Request::get("/healthz").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    totals.update(&snapshotter);
    assert_eq!(totals.rejected, 3);
    held.into_body().collect().await.unwrap();
    let report = run.await.unwrap();
    assert!(report.drained);
    assert_eq!(totals.update(&snapshotter).in_flight, Some(0.0));
}
