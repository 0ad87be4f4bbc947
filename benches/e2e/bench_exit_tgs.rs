//! Run with `cargo run --release --example bench_exit_tgs`
//!
//! A peer in the exit-latency benchmark (`scripts/bench-e2e.sh`): the same
//! axum hello-world as `bench_hello`, on 127.0.0.1:0, run as a subsystem of
//! tokio-graceful-shutdown, which catches SIGTERM and SIGINT.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_graceful_shutdown::{SubsystemBuilder, SubsystemHandle, Toplevel};

async fn http(subsys: &mut SubsystemHandle) -> std::io::Result<()> {
    let router = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);
    let stop = subsys.create_cancellation_token();
    axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

#[tokio::main]
async fn main() {
    let result = Toplevel::new(async |s: &mut SubsystemHandle| {
        s.start(SubsystemBuilder::new("http", http));
    })
    .catch_signals()
    .handle_shutdown_requests(Duration::from_secs(10))
    .await;
    if let Err(error) = result {
        eprintln!("shutdown failed: {error}");
        std::process::exit(1);
    }
}
