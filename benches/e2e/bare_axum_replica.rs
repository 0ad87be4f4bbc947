//! Run with `cargo run --example bare_axum_replica` (`APP__SERVER__ADDR`, default `127.0.0.1:0`).
//!
//! The baseline of the rolling-restart harness
//! (`templates/service/tests/haproxy.rs`, its ignored test): a bare axum
//! service with axum's own `with_graceful_shutdown` on SIGTERM, no winddown.
//! It prints `listening on ADDR` and answers `/` and `/readyz` with 200 until
//! the signal, then stops accepting and finishes what it has.

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("APP__SERVER__ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned());
    let mut terminate = signal(SignalKind::terminate())?;
    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/readyz", get(|| async { "ready\n" }));
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            terminate.recv().await;
        })
        .await
}
