//! The demo: an axum service that shows a full graceful shutdown, on its own.
//!
//! Run with `cargo run --example demo`.
//!
//! It starts a real HTTP service on 127.0.0.1 (drain layer, probes,
//! `/metrics`, three cleanup hooks), starts a slow request against it, sends
//! itself a real SIGTERM, and narrates what a client sees in each state:
//! readiness failing at once, traffic still served while announcing, 503 +
//! `Retry-After` once draining, the slow request finishing with its full body,
//! the hooks running in phase order, a last scrape of `/metrics` with the
//! per-hook timings, and the report. Pass `--wait` to send the signal
//! yourself (Ctrl+C) instead.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winddown::http::{DrainLayer, Probe};
use winddown::prometheus::PrometheusMetrics;
use winddown::{Phase, Shutdown, State, hook_fn};

const SLOW: Duration = Duration::from_millis(1500);
const SLOW_BODY_LEN: usize = 64 * 1024;

/// One HTTP/1.1 request on a fresh connection: (status, headers, body).
async fn fetch(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_owned(), body.to_owned()))
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("-")
}

/// The client side of the demo: what a caller sees while the service drains.
async fn client(addr: SocketAddr, shutdown: Shutdown, self_signal: bool) {
    let t0 = Instant::now();
    let say = |what: String| println!("client +{:>5}ms  {what}", t0.elapsed().as_millis());
    if let Ok((status, _, _)) = fetch(addr, "/").await {
        say(format!("GET /        -> {status}"));
    }
    // A scrape, as Prometheus would make: the final export lingers for a
    // last one only when a scraper has been seen.
    let _ = fetch(addr, "/metrics").await;
    let slow = tokio::spawn(async move { fetch(addr, "/slow").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    if self_signal {
        say(format!("sending SIGTERM to pid {}", std::process::id()));
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(std::process::id().to_string())
            .status();
    }
    shutdown.triggered().await;
    if let Ok((status, _, _)) = fetch(addr, "/readyz").await {
        say(format!(
            "GET /readyz  -> {status} (readiness fails from the signal on)"
        ));
    }
    if let Ok((status, head, _)) = fetch(addr, "/").await {
        say(format!(
            "GET /        -> {status}, Connection: {} (still served while announcing)",
            header(&head, "connection")
        ));
    }
    shutdown.draining().await;
    if let Ok((status, head, _)) = fetch(addr, "/").await {
        say(format!(
            "GET /        -> {status}, Retry-After: {} (draining: new work refused)",
            header(&head, "retry-after")
        ));
    }
    if let Ok((status, _, _)) = fetch(addr, "/healthz").await {
        say(format!("GET /healthz -> {status} (liveness stays up)"));
    }
    if let Ok(Ok((status, _, body))) = slow.await {
        say(format!(
            "GET /slow    -> {status} with {} of {SLOW_BODY_LEN} body bytes (in flight at the signal)",
            body.len()
        ));
    }
    shutdown.reached(State::Cleanup).await;
    // The hooks are running; the listener stays open for probes and scrapes.
    // Once the report exists the process lingers until this scrape.
    while shutdown.report().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Ok((status, _, body)) = fetch(addr, "/metrics").await {
        say(format!(
            "GET /metrics -> {status}: the last scrape, after the hooks:"
        ));
        for line in body.lines().filter(|l| {
            l.starts_with("winddown_hook_duration_seconds_sum")
                || l.starts_with("winddown_shutdown_duration_seconds_sum")
        }) {
            println!("                {line}");
        }
    }
}

fn slow_hook(name: &'static str, phase: Phase, ms: u64) -> impl winddown::ShutdownHook {
    hook_fn(name, move |_| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    })
    .phase(phase)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let metrics = PrometheusMetrics::install().expect("no other metrics recorder");
    let shutdown = Shutdown::builder()
        .announce_delay(Duration::from_millis(500))
        .drain_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build();
    shutdown
        .register(slow_hook("stop-consumer", Phase::STOP_INTAKE, 120))
        .unwrap();
    shutdown
        .register(slow_hook("flush-outbox", Phase::FLUSH, 300))
        .unwrap();
    shutdown
        .register(slow_hook("close-database", Phase::CLOSE, 1001))
        .unwrap();
    // Keep /metrics up after the hooks until one more scrape (at most 2 s).
    metrics
        .final_export()
        .linger(Duration::from_secs(2))
        .register(&shutdown)
        .unwrap();

    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "x".repeat(SLOW_BODY_LEN)
            }),
        )
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .route_service("/metrics", metrics.service())
        .layer(DrainLayer::new(shutdown.clone()));

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Signals are handled from here on, before clients are told where to go.
    shutdown.listen_for_signals()?;
    println!("listening on http://{addr}");
    let self_signal = !std::env::args().any(|a| a == "--wait");
    let client = tokio::spawn(client(addr, shutdown.clone(), self_signal));

    let report = shutdown
        .run_until(winddown::server::serve(listener, app, shutdown.clone()))
        .await;
    // Let the client finish its narration before the report.
    let _ = tokio::time::timeout(Duration::from_secs(1), client).await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
