//! Run with `systemd-socket-activate -l 127.0.0.1:8080 target/debug/examples/systemd_service`
//! (or plainly `cargo run --example systemd_service`, which binds a free port).
//!
//! An axum service as a systemd unit runs it: the listening socket comes
//! from socket activation (`LISTEN_FDS`) when one is passed, and is bound
//! otherwise (`ADDR`, or `127.0.0.1:$PORT`, `PORT` 0 by default). With an
//! inherited socket, the server stops accepting at the trigger and leaves
//! the queued connections to the next instance. sd_notify messages go to
//! `NOTIFY_SOCKET` when it is set: `READY=1` once the listener is ready,
//! then `STOPPING=1`, `EXTEND_TIMEOUT_USEC` and `STATUS=` as the shutdown
//! goes.
//!
//! Environment: `ANNOUNCE_MS` (default 1000), `DRAIN_TIMEOUT_MS` (5000),
//! `TIMEOUT_MS` (15000), `CLEANUP_MS` (the one hook's duration, 100).
//! Routes: `/` (answers with the process id), `/readyz`, `/healthz`.

mod support;

use axum::Router;
use axum::routing::get;
use winddown::Shutdown;
use winddown::http::{DrainLayer, Probe};
use winddown::server::Server;
use winddown::systemd::{Notifier, tcp_listener_from_env};

use crate::support::{addr, env_ms};

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    // Before the runtime's threads start: taking the socket removes
    // LISTEN_FDS and LISTEN_PID from the environment.
    let inherited = tcp_listener_from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(inherited))
}

async fn serve(inherited: Option<std::net::TcpListener>) -> std::io::Result<()> {
    let shutdown = Shutdown::builder()
        .announce_delay(env_ms("ANNOUNCE_MS", 1000))
        .drain_timeout(env_ms("DRAIN_TIMEOUT_MS", 5000))
        .timeout(env_ms("TIMEOUT_MS", 15_000))
        .build();
    let cleanup = env_ms("CLEANUP_MS", 100);
    shutdown
        .on_cleanup("close-database", move |_| async move {
            tokio::time::sleep(cleanup).await;
            Ok(())
        })
        .expect("registered before shutdown");

    let pid = std::process::id();
    let app = Router::new()
        .route(
            "/",
            get(move || async move { format!("hello from {pid}\n") }),
        )
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .layer(DrainLayer::new(shutdown.clone()));

    let mut server = Server::new(shutdown.clone());
    let is_inherited = inherited.is_some();
    let listener = match inherited {
        Some(inherited) => {
            server = server.listener_outlives_process();
            tokio::net::TcpListener::from_std(inherited)?
        }
        None => tokio::net::TcpListener::bind(addr()).await?,
    };
    shutdown.listen_for_signals()?;
    println!(
        "listening on {} pid={pid} inherited={}",
        listener.local_addr()?,
        is_inherited
    );
    // READY=1: the listener accepts from here on.
    let notifier = Notifier::new(shutdown.clone()).spawn();

    let report = shutdown.run_until(server.serve(listener, app)).await;
    // STATUS=done has gone out before the process exits.
    let _ = notifier.await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
