//! Run with `cargo run --release --example bench_exit_bare`
//!
//! The baseline of the exit-latency benchmark (`scripts/bench-e2e.sh`): the
//! same axum hello-world as `bench_hello`, on 127.0.0.1:0, with no graceful
//! shutdown at all. It returns from `main` as soon as SIGTERM or SIGINT
//! arrives, dropping the server and the runtime.

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
    tokio::select! {
        served = axum::serve(listener, router).into_future() => served,
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    }
}
