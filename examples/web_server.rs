//! Run with `cargo run --example web_server`, then `curl localhost:PORT/slow` and press Ctrl+C (or send SIGTERM).
//!
//! Environment: `PORT` (default 0: any free port; the line
//! `listening on 127.0.0.1:PORT` says which), `ANNOUNCE_MS` (how long
//! readiness fails while traffic is still served, default 1000), `SLOW_MS`
//! (how long `/slow` takes, default 2000) and `DRAIN_MS` (the drain timeout,
//! default 10000).
//!
//! An axum service behind winddown's [`DrainLayer`], served by
//! `winddown_server::serve`, with a "database" closed by a hook:
//!
//! - `GET /` answers `hello`; `GET /slow` uses the database for `SLOW_MS`.
//! - `GET /readyz` is the readiness probe: `200 ready`, then `503` from the
//!   signal on, so load balancers stop sending traffic.
//! - `GET /healthz` is the liveness probe: `200` until the end (a process
//!   that is draining is alive; restarting it would cut the drain short).
//!
//! On SIGTERM or SIGINT: readiness flips to 503 and traffic is still served
//! for `ANNOUNCE_MS`; then new requests get `503` with `Retry-After` while
//! the requests in flight (a `/slow` one) finish; then the `close-database`
//! hook (phase close) runs and logs `database closed`. The progress lines,
//! in that order, go to stderr; the report goes to stdout.
//!
//! [`DrainLayer`]: winddown_http::DrainLayer

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tracing::info;
use winddown::Shutdown;
use winddown_http::{DrainLayer, Probe};

use crate::support::env_u64;

/// Stands in for a database client: it serves queries until closed.
#[derive(Default)]
struct Database {
    closed: AtomicBool,
    queries: AtomicU64,
}

impl Database {
    fn query(&self) -> Result<u64, &'static str> {
        if self.closed.load(Ordering::Acquire) {
            return Err("the database is closed");
        }
        Ok(self.queries.fetch_add(1, Ordering::AcqRel) + 1)
    }

    fn close(&self) -> u64 {
        self.closed.store(true, Ordering::Release);
        self.queries.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct App {
    db: Arc<Database>,
    slow: Duration,
}

async fn slow(State(app): State<App>) -> Result<String, (StatusCode, &'static str)> {
    info!("slow request started");
    tokio::time::sleep(app.slow).await;
    let n = app
        .db
        .query()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
    info!("slow request finished (query {n})");
    Ok(format!("slow done after {} ms\n", app.slow.as_millis()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let port = u16::try_from(env_u64("PORT", 0)).unwrap_or_else(|_| {
        eprintln!("PORT: expected a port number from 0 to 65535");
        std::process::exit(2);
    });
    let app = App {
        db: Arc::default(),
        slow: Duration::from_millis(env_u64("SLOW_MS", 2000)),
    };

    let shutdown = Shutdown::builder()
        .announce_delay(Duration::from_millis(env_u64("ANNOUNCE_MS", 1000)))
        .drain_timeout(Duration::from_millis(env_u64("DRAIN_MS", 10_000)))
        .timeout(Duration::from_secs(30))
        .build();
    shutdown
        .on_cleanup("close-database", {
            let db = app.db.clone();
            move |_ctx| async move {
                let served = db.close();
                info!("database closed ({served} queries served)");
                Ok(())
            }
        })
        .unwrap();

    let router = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/slow", get(slow))
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .with_state(app)
        .layer(DrainLayer::new(shutdown.clone()));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    // Signals are handled from here on, before clients are told where to go.
    shutdown.listen_for_signals()?;
    println!("listening on {}", listener.local_addr()?);
    let report = shutdown
        .run_until(winddown_server::serve(listener, router, shutdown.clone()))
        .await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
