//! Run with `cargo run --release --example bench_exit_bare`
//!
//! The baseline of the exit-latency benchmark (`scripts/bench-e2e.sh`): the
//! same axum hello-world as `bench_hello`, on 127.0.0.1:0, with no graceful
//! shutdown at all. It returns from `main` as soon as SIGTERM or SIGINT
//! arrives, dropping the server and the runtime.
//!
//! With `BENCH_BALLAST_KB=N` it first fills N KiB of memory, to measure what
//! the kernel alone takes to tear down a process of that size at exit.

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let ballast_kb: usize = std::env::var("BENCH_BALLAST_KB")
        .ok()
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0);
    // Written, so that every page is resident; kept until the exit.
    let ballast = std::hint::black_box(vec![1u8; ballast_kb * 1024]);
    let router = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    let result = tokio::select! {
        served = axum::serve(listener, router).into_future() => served,
        _ = term.recv() => Ok(()),
        _ = int.recv() => Ok(()),
    };
    // Not freed before the exit: the kernel reclaims it, as for a server.
    std::mem::forget(ballast);
    result
}
