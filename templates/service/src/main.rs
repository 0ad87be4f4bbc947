//! {{project-name}}: an axum service that shuts down gracefully.
//!
//! On SIGTERM (or Ctrl+C): `/readyz` fails at once while traffic is still
//! served for `shutdown.announce_delay`; then new requests get 503 with
//! `Retry-After` while those in flight finish (up to
//! `shutdown.drain_timeout`); then the cleanup hooks run in phase order; the
//! last shutdown's timings are flushed to Prometheus; the report is logged
//! and the exit code says whether it all went well. A second signal exits
//! at once.

mod telemetry;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use winddown::config::Config;
use winddown::http::Probe;
use winddown::prometheus::PrometheusMetrics;

use crate::worker::{Jobs, Refused};

#[tokio::main]
async fn main() {
    // Configuration first: a bad value is one clear line and exit 78,
    // before anything starts.
    let config = Config::load_or_exit(Some(&config_file()));
    telemetry::init_tracing(&config.log);
    let metrics = PrometheusMetrics::install().expect("the only metrics recorder");
    let shutdown = config.shutdown.builder().build();
    // SIGTERM and SIGINT start the graceful shutdown from here on, even
    // before serving begins.
    if let Err(error) = shutdown.listen_for_signals() {
        tracing::error!("cannot listen for signals: {error}");
        std::process::exit(1);
    }

    // Components register their cleanup hooks; the metrics go out last.
    let jobs = worker::start(&shutdown);
    if let Err(error) = telemetry::export_on_shutdown(&config.metrics, &metrics, &shutdown) {
        tracing::error!("{error}");
        std::process::exit(winddown::config::EX_CONFIG);
    }
    // Once every component has registered its hooks: does announce + drain
    // + one hook timeout per registered hook fit the deadline (and the
    // deadline the Kubernetes grace period)? Warns, or refuses with
    // `budget_check = "error"`.
    if let Err(error) = config.check_budget_for(&shutdown) {
        error.exit();
    }

    let app = Router::new()
        .route("/", get(|| async { "hello from {{project-name}}\n" }))
        .route("/slow", get(slow))
        .route("/jobs", post(submit_job))
        .with_state(jobs)
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/metrics", metrics.service())
        // 503 + Retry-After (`shutdown.retry_after`) while draining, except
        // for `shutdown.exempt_paths`.
        .layer(config.shutdown.drain_layer(&shutdown));

    let listener = match TcpListener::bind(config.server.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("cannot listen on {}: {error}", config.server.addr);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("a bound listener has an address");
    tracing::info!("listening on {addr}");

    let report = shutdown
        .run_until(winddown::server::serve(listener, app, shutdown.clone()))
        .await;
    tracing::info!("{report}");
    std::process::exit(report.exit_code());
}

/// `CONFIG_FILE`, or `config/default.toml`.
fn config_file() -> PathBuf {
    std::env::var_os("CONFIG_FILE").map_or_else(|| "config/default.toml".into(), PathBuf::from)
}

/// `?ms=N` from the query string: how long a simulated piece of work takes
/// (at most a minute; 1 s when absent).
fn work_duration(query: Option<&str>) -> Result<Duration, (StatusCode, String)> {
    let Some(value) = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("ms="))) else {
        return Ok(Duration::from_secs(1));
    };
    match value.parse::<u64>() {
        Ok(ms) if ms <= 60_000 => Ok(Duration::from_millis(ms)),
        _ => Err((
            StatusCode::BAD_REQUEST,
            format!("ms: expected a whole number of milliseconds up to 60000, got {value:?}\n"),
        )),
    }
}

/// `GET /slow?ms=N`: a request that takes a while. In-flight requests like
/// this one finish during the drain.
async fn slow(RawQuery(query): RawQuery) -> Result<String, (StatusCode, String)> {
    let duration = work_duration(query.as_deref())?;
    tokio::time::sleep(duration).await;
    Ok(format!("done after {}ms\n", duration.as_millis()))
}

/// `POST /jobs?ms=N`: queues a background job for the worker.
async fn submit_job(
    State(jobs): State<Jobs>,
    RawQuery(query): RawQuery,
) -> Result<(StatusCode, String), (StatusCode, String)> {
    let duration = work_duration(query.as_deref())?;
    match jobs.submit(duration).await {
        Ok(id) => Ok((StatusCode::ACCEPTED, format!("job {id} queued\n"))),
        Err(Refused::ShuttingDown) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down: not taking new jobs\n".to_owned(),
        )),
        Err(Refused::Full) => Err((
            StatusCode::TOO_MANY_REQUESTS,
            "the job queue is full\n".to_owned(),
        )),
    }
}
