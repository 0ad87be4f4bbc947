//! The final export lingers for a last scrape only when a scraper exists:
//! a process nobody ever scraped (a laptop, Ctrl+C) goes on at once and
//! says so once; a scraped one still waits for, and gets, its last scrape.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use metrics_exporter_prometheus::PrometheusRecorder;
use tokio::time::Instant;
use tower::ServiceExt;
use winddown_core::Shutdown;
use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics};
use winddown_testkit::LogCapture;

const LINGER: Duration = Duration::from_secs(15);

/// Runs `future` on a paused current-thread runtime with a local recorder,
/// and returns its output and what it logged.
fn run<F: Future>(recorder: &PrometheusRecorder, future: F) -> (F::Output, String) {
    let logs = LogCapture::default();
    let output = tracing::subscriber::with_default(logs.subscriber(), || {
        metrics::with_local_recorder(recorder, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap()
                .block_on(future)
        })
    });
    (output, logs.text())
}

async fn scrape(metrics: &PrometheusMetrics) -> String {
    let request = Request::get("/metrics")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = metrics.service().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[test]
fn never_scraped_the_export_goes_on_at_once_and_says_so_once() {
    let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let ((outcome, took), logs) = run(&recorder, async {
        let shutdown = Shutdown::builder()
            .announce_delay(Duration::ZERO)
            .no_signals()
            .build();
        shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let export = FinalExport::new(&metrics).linger(LINGER);
        shutdown
            .before_done("export", move |_| async move {
                let _ = tx.send(export.run().await.linger);
            })
            .unwrap();
        let start = Instant::now();
        shutdown.trigger();
        shutdown.run().await;
        (rx.await.unwrap(), start.elapsed())
    });
    assert_eq!(outcome, LingerOutcome::NoScraper);
    // Paused time would have jumped the 15 s had it waited.
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let said: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("no scraper seen"))
        .collect();
    assert_eq!(said.len(), 1, "said once:\n{logs}");
    assert!(
        said[0].ends_with(
            "INFO before_done{step=export}: winddown: no scraper seen: /metrics was never scraped since start, so there is no last scrape to wait for linger_seconds=15.0"
        ),
        "{logs}"
    );
    assert!(
        !logs.contains("waiting for a last scrape of /metrics"),
        "{logs}"
    );
    assert_eq!(
        LingerOutcome::NoScraper.to_string(),
        "skipped: /metrics was never scraped, no scraper to wait for"
    );
}

#[test]
fn once_scraped_the_export_waits_for_the_last_scrape() {
    let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let ((outcome, last), logs) = run(&recorder, async {
        let export = FinalExport::new(&metrics).linger(LINGER);
        // Prometheus scraped once, before the shutdown.
        scrape(&metrics).await;
        // A figure recorded at the end, which the last scrape must carry.
        metrics::counter!("winddown_abandoned_requests_total").increment(3);
        let running = tokio::spawn({
            let export = export.clone();
            async move { export.run().await.linger }
        });
        // It waits: 5 s later it is still lingering, then a scrape ends it.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!running.is_finished());
        let last = scrape(&metrics).await;
        (running.await.unwrap(), last)
    });
    assert!(
        matches!(outcome, LingerOutcome::Scraped { waited } if waited == Duration::from_secs(5)),
        "{outcome:?}"
    );
    assert!(
        last.contains("winddown_abandoned_requests_total 3"),
        "{last}"
    );
    assert!(
        logs.contains("waiting for a last scrape of /metrics"),
        "{logs}"
    );
    assert!(!logs.contains("no scraper seen"), "{logs}");

    // And with no last scrape, it waits the whole bound.
    let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let ((outcome, took), _) = run(&recorder, async {
        scrape(&metrics).await;
        let start = Instant::now();
        let outcome = FinalExport::new(&metrics).linger(LINGER).run().await.linger;
        (outcome, start.elapsed())
    });
    assert_eq!(outcome, LingerOutcome::TimedOut { waited: LINGER });
    assert_eq!(took, LINGER);
}

#[tokio::test]
async fn a_scrape_of_nothing_recorded_yet_still_counts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A service that has recorded nothing yet: /metrics renders only the
    // in-flight requests gauge, which is there from the start.
    let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let app: axum::Router = axum::Router::new().route_service("/metrics", metrics.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("\nwinddown_inflight_requests 0\n"),
        "{answer}"
    );
    // Counted once the server is done with the response, which it is by
    // the time it closed the connection (bounded wait, no fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.scrapes() == 0 {
        assert!(
            Instant::now() < deadline,
            "the empty scrape was never counted"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(metrics.scrapes(), 1);
    server.abort();
}
