//! {{project-name}}: an axum service that shuts down gracefully.
//!
//! On SIGTERM (or Ctrl+C): `/readyz` fails at once while traffic is still
//! served for `shutdown.announce_delay`; then new requests get 503 with
//! `Retry-After` while those in flight finish (up to
//! `shutdown.drain_timeout`); then the cleanup hooks run in phase order; the
//! last shutdown's timings are flushed to Prometheus; the report is logged
//! and the exit code says whether it all went well. A second signal exits
//! at once.
//!
//! Under systemd (`systemd/`): the listening socket comes from socket
//! activation when the unit has one (connections wait in the kernel's
//! backlog across restarts), and the unit learns the state through
//! sd_notify (`READY=1`, `STOPPING=1`, `EXTEND_TIMEOUT_USEC`, `STATUS=`).
//!
//! On SIGHUP (`systemctl reload`, or `kill -HUP`): a hand-off restart. The
//! program is started again with the listening socket, and once the new
//! process is ready this one stops as on SIGTERM. Nothing is refused.

mod telemetry;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower::Layer;
use winddown::config::{BUDGET_MARGIN, Config};
use winddown::http::Probe;
use winddown::prometheus::PrometheusMetrics;
use winddown::server::Server;
use winddown::systemd::handoff::Handoff;
use winddown::systemd::{Notifier, tcp_listener_from_env};

use crate::worker::{Jobs, Refused};

fn main() {
    // Configuration first: a bad value is one clear line and exit 78,
    // before anything starts.
    let config = Config::load_or_exit(Some(&config_file()));
    telemetry::init_tracing(&config.log);
    // The socket systemd passes (socket activation), taken before the
    // runtime's threads start: it removes LISTEN_FDS from the environment.
    let inherited = match tcp_listener_from_env() {
        Ok(inherited) => inherited,
        Err(error) => {
            tracing::error!("{error}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(config, inherited));
}

async fn serve(config: Config, inherited: Option<std::net::TcpListener>) {
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

    let routes = Router::new()
        .route("/", get(|| async { "hello from {{project-name}}\n" }))
        .route("/slow", get(slow))
        .route("/jobs", post(submit_job))
        .with_state(jobs)
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/metrics", metrics.service());
    // 503 + Retry-After (`shutdown.retry_after`) while draining, except for
    // `shutdown.exempt_paths`. Around the whole router rather than through
    // `Router::layer`: every request the server takes goes through it,
    // whatever route it reaches (a route added after `Router::layer` would
    // not), and axum does not clone the layer for each request.
    let app = config.shutdown.drain_layer(&shutdown).layer(routes);

    let mut server = Server::new(shutdown.clone());
    let is_inherited = inherited.is_some();
    let listener = match inherited {
        // systemd holds this socket across restarts: stop accepting at the
        // trigger and leave what is queued to the next instance.
        Some(inherited) => {
            server = server.listener_outlives_process();
            TcpListener::from_std(inherited)
        }
        None => TcpListener::bind(config.server.addr).await,
    };
    let listener = match listener {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("cannot listen on {}: {error}", config.server.addr);
            std::process::exit(1);
        }
    };
    let addr = listener.local_addr().expect("a bound listener has an address");
    if is_inherited {
        tracing::info!("listening on {addr} (socket passed by systemd)");
    } else {
        tracing::info!("listening on {addr}");
    }
    // SIGHUP (`systemctl reload`): a new process of this program takes over
    // the listening socket; once it is ready, this one stops as on SIGTERM
    // (without refusing or losing a connection). If the new one fails, this
    // one keeps serving.
    if let Err(error) = Handoff::new(shutdown.clone(), &listener).and_then(Handoff::on_sighup) {
        tracing::error!("cannot restart on SIGHUP: {error}");
        std::process::exit(1);
    }
    // READY=1 now, then the state as the shutdown goes (only when
    // NOTIFY_SOCKET is set). The extension of systemd's stop timeout covers
    // the final export too (the linger, or the push's bound if longer).
    let notifier = Notifier::new(shutdown.clone())
        .extend_margin(BUDGET_MARGIN + config.metrics.final_export_time())
        .spawn();

    let report = shutdown.run_until(server.serve(listener, app)).await;
    // STATUS=done has gone out.
    let _ = notifier.await;
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
