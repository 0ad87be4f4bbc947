//! Run with `cargo run --example hyper_service`, then press Ctrl+C (or send SIGTERM).
//!
//! A plain hyper 1 service, no framework: a `tower::service_fn` handler
//! behind the drain layer (added with `ServiceBuilderExt`), served over
//! HTTP/1.1 and HTTP/2 by winddown's server under `Shutdown::run_until`.
//!
//! Environment and routes are those of the `axum_service` example: `ADDR`,
//! `PORT` (default 0, a free port), `ANNOUNCE_MS` (default 1000),
//! `DRAIN_TIMEOUT_MS` (default 10000), `SLOW_MS` (default 3000); `/`,
//! `/slow`, `/readyz`, `/healthz`.

mod support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use winddown::Shutdown;
use winddown::http::{Probe, ServiceBuilderExt};

use crate::support::{addr, env_ms, print_progress, service_shutdown};

/// The size of the `/slow` body.
const SLOW_LEN: usize = 100_000;

async fn handle(
    req: Request<Incoming>,
    shutdown: Shutdown,
    slow: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    match req.uri().path() {
        "/" => Ok(Response::new(Full::new(Bytes::from("hello\n")))),
        "/slow" => {
            println!("slow request started");
            tokio::time::sleep(slow).await;
            println!("slow request answered");
            let body = "0123456789".repeat(SLOW_LEN / 10);
            Ok(Response::new(Full::new(Bytes::from(body))))
        }
        "/readyz" => Probe::readiness(shutdown).oneshot(req).await,
        "/healthz" => Probe::liveness(shutdown).oneshot(req).await,
        _ => {
            let mut response = Response::new(Full::new(Bytes::from("not found\n")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok(response)
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let shutdown = service_shutdown("flush-cache");

    let slow = env_ms("SLOW_MS", 3000);
    let handler = {
        let shutdown = shutdown.clone();
        service_fn(move |req| handle(req, shutdown.clone(), slow))
    };
    let service = ServiceBuilder::new()
        .drain_on_shutdown(shutdown.clone())
        .service(handler);

    let listener = TcpListener::bind(addr()).await?;
    // Signals are handled from here on, before clients are told where to go.
    shutdown.listen_for_signals()?;
    println!("listening on {}", listener.local_addr()?);
    print_progress(&shutdown);

    let report = shutdown
        .run_until(winddown::server::serve(listener, service, shutdown.clone()))
        .await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
