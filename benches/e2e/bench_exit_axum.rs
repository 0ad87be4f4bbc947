//! Run with `cargo run --release --example bench_exit_axum`
//!
//! A peer in the exit-latency benchmark (`scripts/bench-e2e.sh`): the same
//! axum hello-world as `bench_hello`, on 127.0.0.1:0, shut down with axum's
//! own `with_graceful_shutdown` on SIGTERM or SIGINT.

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let router = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await
}
