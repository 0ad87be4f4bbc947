//! The Prometheus text of a shutdown, the `/metrics` service, and the
//! linger's scrape counting.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use metrics_exporter_prometheus::PrometheusRecorder;
use tower::ServiceExt;
use winddown_core::{Phase, Shutdown, hook_fn};
use winddown_prometheus::service::CONTENT_TYPE_TEXT;
use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics};

fn local() -> (PrometheusRecorder, PrometheusMetrics) {
    PrometheusMetrics::build(PrometheusMetrics::exporter())
}

fn run_recorded<F: Future>(recorder: &PrometheusRecorder, future: F) -> F::Output {
    metrics::with_local_recorder(recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(future)
    })
}

async fn two_hook_shutdown() {
    let shutdown = Shutdown::builder().no_signals().build();
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
    shutdown.trigger();
    shutdown.run().await;
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

#[test]
fn the_text_has_help_type_buckets_sum_and_count() {
    let (recorder, metrics) = local();
    run_recorded(&recorder, two_hook_shutdown());
    let text = metrics.render();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    let has = |line: &str| lines.contains(&line);

    for line in [
        "# HELP winddown_hook_duration_seconds Duration of each shutdown hook of the last shutdown, by hook, phase and outcome.",
        "# TYPE winddown_hook_duration_seconds histogram",
        r#"winddown_hook_duration_seconds_bucket{hook="db",phase="close",outcome="ok",le="0.25"} 0"#,
        r#"winddown_hook_duration_seconds_bucket{hook="db",phase="close",outcome="ok",le="0.5"} 1"#,
        r#"winddown_hook_duration_seconds_bucket{hook="db",phase="close",outcome="ok",le="+Inf"} 1"#,
        r#"winddown_hook_duration_seconds_sum{hook="db",phase="close",outcome="ok"} 0.3"#,
        r#"winddown_hook_duration_seconds_count{hook="db",phase="close",outcome="ok"} 1"#,
        r#"winddown_hook_duration_seconds_bucket{hook="queue",phase="stop_intake",outcome="ok",le="0.1"} 0"#,
        r#"winddown_hook_duration_seconds_bucket{hook="queue",phase="stop_intake",outcome="ok",le="0.25"} 1"#,
        r#"winddown_hook_duration_seconds_sum{hook="queue",phase="stop_intake",outcome="ok"} 0.15"#,
        "# TYPE winddown_shutdown_duration_seconds histogram",
        "winddown_shutdown_duration_seconds_sum 0.45",
        "winddown_shutdown_duration_seconds_count 1",
        "# TYPE winddown_drain_duration_seconds histogram",
        "winddown_drain_duration_seconds_sum 0",
        "# TYPE winddown_announce_duration_seconds histogram",
        "# TYPE winddown_abandoned_requests_total counter",
        "winddown_abandoned_requests_total 0",
        "# TYPE winddown_state gauge",
        "winddown_state 4",
        "# TYPE winddown_inflight_requests gauge",
        "winddown_inflight_requests 0",
    ] {
        assert!(has(line), "missing line {line:?} in\n{text}");
    }

    // Every bucket of DURATION_BUCKETS, in order, for each series.
    let le: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with(r#"winddown_hook_duration_seconds_bucket{hook="db""#))
        .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    let mut expected: Vec<String> = winddown_core::metric_names::DURATION_BUCKETS
        .iter()
        .map(|b| b.to_string())
        .collect();
    expected.push("+Inf".into());
    assert_eq!(le, expected);

    // Base units and Prometheus suffixes: every sample name ends as it should.
    for line in lines
        .iter()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(
            name.ends_with("_seconds_bucket")
                || name.ends_with("_seconds_sum")
                || name.ends_with("_seconds_count")
                || name.ends_with("_total")
                || name == "winddown_state"
                || name == "winddown_inflight_requests",
            "unexpected sample name {name:?}"
        );
    }
}

#[test]
fn application_histograms_keep_the_exporter_defaults() {
    let (recorder, metrics) = local();
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("app_request_seconds").record(0.2);
    });
    let text = metrics.render();
    assert!(
        text.contains("# TYPE app_request_seconds summary"),
        "{text}"
    );
}

#[tokio::test]
async fn the_service_serves_get_and_head_and_refuses_other_methods() {
    let (_recorder, metrics) = local();
    let service = metrics.service();

    let response = service.clone().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], CONTENT_TYPE_TEXT);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), length);
    // The exporter renders metrics of one kind in no fixed order: the same
    // lines, not the same text.
    let lines = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        lines(std::str::from_utf8(&body).unwrap()),
        lines(&metrics.render())
    );

    let head = Request::head("/metrics")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = service.clone().oneshot(head).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], length.to_string());
    assert!(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );

    let post = Request::builder()
        .method(Method::POST)
        .uri("/metrics")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = service.oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET, HEAD");

    // Only the GET counted as a scrape.
    assert_eq!(metrics.scrapes(), 1);
}

#[tokio::test]
async fn a_scrape_counts_once_its_body_is_taken_and_dropped() {
    let (recorder, metrics) = local();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("winddown_rejected_requests_total").increment(1);
    });
    let response = metrics.service().oneshot(get("/metrics")).await.unwrap();
    assert_eq!(metrics.scrapes(), 0, "not before the body is sent");
    let mut body = response.into_body();
    let _frame = body.frame().await.unwrap().unwrap();
    assert_eq!(metrics.scrapes(), 0, "not while the body is still held");
    drop(body);
    assert_eq!(metrics.scrapes(), 1);

    // A response dropped before its body was sent is no scrape.
    drop(metrics.service().oneshot(get("/metrics")).await.unwrap());
    assert_eq!(metrics.scrapes(), 1);
}

#[tokio::test(start_paused = true)]
async fn linger_ends_at_the_first_scrape_rendered_after_it_started() {
    let (_recorder, metrics) = local();
    // Rendered before the linger starts, sent during it: does not count,
    // since it may miss the last figures.
    let early = metrics.service().oneshot(get("/metrics")).await.unwrap();

    let linger = tokio::spawn({
        let metrics = metrics.clone();
        async move { metrics.linger(Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    early.into_body().collect().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!linger.is_finished());

    let late = metrics.service().oneshot(get("/metrics")).await.unwrap();
    late.into_body().collect().await.unwrap();
    let outcome = linger.await.unwrap();
    assert_eq!(
        outcome,
        LingerOutcome::Scraped {
            waited: Duration::from_secs(2)
        }
    );
    assert_eq!(metrics.scrapes(), 2);
}

#[tokio::test(start_paused = true)]
async fn linger_is_bounded_and_off_at_zero() {
    let (_recorder, metrics) = local();
    assert_eq!(metrics.linger(Duration::ZERO).await, LingerOutcome::Off);
    let start = tokio::time::Instant::now();
    assert_eq!(
        metrics.linger(Duration::from_secs(3)).await,
        LingerOutcome::TimedOut {
            waited: Duration::from_secs(3)
        }
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[test]
fn the_final_export_holds_done_until_the_last_scrape() {
    let (recorder, metrics) = local();
    let (scraped_text, outcome_state) = run_recorded(&recorder, async {
        let shutdown = Shutdown::builder().no_signals().build();
        shutdown
            .on_cleanup("db", |_| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
            .unwrap();
        FinalExport::new(&metrics)
            .linger(Duration::from_secs(30))
            .register(&shutdown)
            .unwrap();
        // A scraper exists: it scraped once before the shutdown.
        let response = metrics.service().oneshot(get("/metrics")).await.unwrap();
        response.into_body().collect().await.unwrap();
        shutdown.trigger();
        let mut driver = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.run().await }
        });
        // A scraper every 5 s, as Prometheus would, until the sequence is done.
        let mut scraped = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), &mut driver).await {
                Ok(joined) => {
                    joined.unwrap();
                    break;
                }
                Err(_) => {
                    let response = metrics.service().oneshot(get("/metrics")).await.unwrap();
                    let text = response.into_body().collect().await.unwrap().to_bytes();
                    scraped.push((String::from_utf8(text.to_vec()).unwrap(), shutdown.state()));
                }
            }
        }
        assert_eq!(scraped.len(), 1);
        (scraped.pop().unwrap(), shutdown.state())
    });
    let (text, state_when_scraped) = scraped_text;
    // The last scrape happened before done, and carried every figure.
    assert_eq!(state_when_scraped, winddown_core::State::Cleanup);
    assert_eq!(outcome_state, winddown_core::State::Done);
    assert!(
        text.contains(
            r#"winddown_hook_duration_seconds_sum{hook="db",phase="close",outcome="ok"} 0.3"#
        ),
        "{text}"
    );
    assert!(
        text.contains("winddown_shutdown_duration_seconds_count 1"),
        "{text}"
    );
    // The scrape before the trigger, and the last one.
    assert_eq!(metrics.scrapes(), 2);
}

/// A running service's scrape already has every series a dashboard asks
/// for: `winddown_state 0` (running) once its shutdown is tracked, and the
/// rejected and abandoned counters at 0 (so `increase()` sees the first
/// shutdown's counts). The state follows the shutdown at each render.
#[test]
fn a_running_service_reports_state_0_and_its_counters_at_0() {
    let (_recorder, metrics) = local();
    let shutdown = Shutdown::builder().no_signals().build();
    metrics.track(&shutdown);
    let text = metrics.render();
    for line in [
        "winddown_state 0",
        "winddown_rejected_requests_total 0",
        "winddown_abandoned_requests_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
    }
    shutdown.trigger();
    let text = metrics.render();
    assert!(text.lines().any(|l| l == "winddown_state 1"), "{text}");
}
