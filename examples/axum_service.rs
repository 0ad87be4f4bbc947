//! Run with `cargo run --example axum_service`, then press Ctrl+C (or send SIGTERM).
//!
//! An axum service that drains cleanly: `DrainLayer` on the router,
//! readiness and liveness probes, one cleanup hook, and winddown's server
//! (HTTP/1.1 and HTTP/2) under `Shutdown::run_until`.
//!
//! Environment: `ADDR` (default `127.0.0.1:$PORT`), `PORT` (default 0, a
//! free port), `ANNOUNCE_MS` (default 1000), `DRAIN_TIMEOUT_MS` (default
//! 10000), `SLOW_MS` (how long `/slow` takes, default 3000).
//!
//! Long-lived routes: `/events` is an endless event stream that ends
//! cleanly, with a `retry:` hint, when draining starts; `/ws` is a
//! WebSocket echo (each text message is sent back), closed with `1001`
//! when draining starts and cut at the drain timeout if the client does not
//! answer. HTTP/2 clients get a graceful GOAWAY at the signal.
//!
//! Try it: `curl localhost:PORT/slow` in one terminal, Ctrl+C in the
//! server's, and `curl -i localhost:PORT/` and `curl -i localhost:PORT/readyz`
//! in a third. `/readyz` fails at once; `/` is still served while
//! announcing, then answered `503` with `Retry-After`; the slow request
//! finishes with its full body; the hook runs; the report is printed.

mod support;

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use tokio::net::TcpListener;
use winddown::Shutdown;
use winddown::http::sse::EndOnDrain;
use winddown::http::ws;
use winddown::http::{DrainLayer, Probe};

use crate::support::{addr, env_ms, print_progress, service_shutdown};

/// The size of the `/slow` body.
const SLOW_LEN: usize = 100_000;

/// `SLOW_LEN` bytes of `0123456789`, so a client can check it got them all.
fn slow_body() -> String {
    "0123456789".repeat(SLOW_LEN / 10)
}

/// An endless server-sent event stream, ended cleanly when draining
/// starts: a last event with `retry:`, then the end of the body.
async fn events(shutdown: Shutdown) -> impl axum::response::IntoResponse {
    let ticks = futures_util::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, std::convert::Infallible>(format!("data: tick {n}\n\n")),
            n + 1,
        ))
    });
    let body = EndOnDrain::new(axum::body::Body::from_stream(ticks), &shutdown)
        .retry(Duration::from_secs(5));
    (
        [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::new(body),
    )
}

/// A WebSocket echo: each text message is sent back. Counted in flight,
/// closed with `1001` when draining starts.
async fn echo(upgrade: WebSocketUpgrade, shutdown: Shutdown) -> axum::response::Response {
    ws::on_upgrade(upgrade, &shutdown, |mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(text) = message
                && socket.send(Message::Text(text)).await.is_err()
            {
                break;
            }
        }
        let closed = socket.close().await;
        println!("websocket closed: {closed:?}");
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let shutdown = service_shutdown("close-database");

    let slow = env_ms("SLOW_MS", 3000);
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route(
            "/slow",
            get(move || async move {
                println!("slow request started");
                tokio::time::sleep(slow).await;
                println!("slow request answered");
                slow_body()
            }),
        )
        .route("/events", {
            let shutdown = shutdown.clone();
            get(move || events(shutdown.clone()))
        })
        .route("/ws", {
            let shutdown = shutdown.clone();
            get(move |ws: WebSocketUpgrade| echo(ws, shutdown.clone()))
        })
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .layer(DrainLayer::new(shutdown.clone()).retry_after(Duration::from_secs(5)));

    let listener = TcpListener::bind(addr()).await?;
    // Signals are handled from here on, before clients are told where to go.
    shutdown.listen_for_signals()?;
    println!("listening on {}", listener.local_addr()?);
    print_progress(&shutdown);

    let report = shutdown
        .run_until(winddown::server::serve(listener, app, shutdown.clone()))
        .await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
