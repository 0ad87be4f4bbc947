//! Run with `cargo run --release --example bench_hello -- [--no-layer | --no-layer-nodelay | --server | --server-outer | --server-no-layer | --outer | --in-flight-peer | --hyper-timer]`
//!
//! The hello-world service of the end-to-end benchmarks
//! (`scripts/bench-e2e.sh`). It binds 127.0.0.1:0, prints
//! `listening on 127.0.0.1:PORT` and serves until SIGTERM or Ctrl+C, with
//! zero announce delay.
//!
//! - default: an axum `Router` with the `DrainLayer`, served by `axum::serve`;
//! - `--no-layer`: the same router and server without the layer;
//! - `--no-layer-nodelay`: the same, with `TCP_NODELAY` on every accepted
//!   socket (as winddown's server and `--hyper-timer` set it);
//! - `--server`: the router with the layer, served by `winddown_server`
//!   (connection draining, HTTP/1.1 and HTTP/2);
//! - `--server-outer`: the layer around the whole router
//!   (`DrainLayer::layer(router)`), served by `winddown_server`;
//! - `--server-no-layer`: the router without the layer, on `winddown_server`;
//! - `--outer`: the layer around the whole router (`DrainLayer::layer(router)`)
//!   rather than through `Router::layer`, served by `axum::serve`;
//! - `--in-flight-peer`: no drain layer, but tower-http's in-flight request
//!   counting layer through `Router::layer`: a peer in the same position.
//! - `--hyper-timer`: the router without the layer on hyper-util's auto
//!   server with hyper's HTTP/1 header read timeout (10 s, the bound
//!   winddown's server puts on the first request head): a server with slow
//!   client protection, to compare winddown's server with.
//!
//! Routes: `/` answers `Hello, World!`; `/slow` stays in flight until
//! shutdown starts, then answers 0–99 ms later (bounded by 30 s in all);
//! `/arrived` tells how many `/slow` requests have arrived.
//!
//! At exit it prints `shutdown: ...` with the time from the end of the drain
//! (the last response body ended) to the exit, as the server saw it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::{Router, ServiceExt as _};
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt as _};
use tower_http::metrics::InFlightRequestsLayer;
use winddown::Shutdown;
use winddown_http::DrainLayer;

#[derive(Clone)]
struct App {
    shutdown: Shutdown,
    arrived: Arc<AtomicUsize>,
}

async fn slow(State(app): State<App>) -> &'static str {
    let n = app.arrived.fetch_add(1, Ordering::AcqRel);
    let _ = tokio::time::timeout(Duration::from_secs(30), app.shutdown.triggered()).await;
    tokio::time::sleep(Duration::from_millis((n % 100) as u64)).await;
    "done"
}

async fn arrived(State(app): State<App>) -> String {
    app.arrived.load(Ordering::Acquire).to_string()
}

/// hyper-util's auto server (HTTP/1.1 and HTTP/2) with hyper's HTTP/1
/// header read timeout: one task per connection, until the process exits.
async fn hyper_timer(listener: TcpListener, router: Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let shutdown = Shutdown::builder()
        .announce_delay(Duration::ZERO)
        .drain_timeout(Duration::from_secs(20))
        .timeout(Duration::from_secs(25))
        .build();
    let app = App {
        shutdown: shutdown.clone(),
        arrived: Arc::new(AtomicUsize::new(0)),
    };
    let router = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/slow", get(slow))
        .route("/arrived", get(arrived))
        .with_state(app);

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on {}", listener.local_addr()?);

    let report = match mode.as_str() {
        "--no-layer" => {
            let stop = shutdown.draining();
            let serve = axum::serve(listener, router).with_graceful_shutdown(stop);
            shutdown.run_until(serve.into_future()).await
        }
        "--no-layer-nodelay" => {
            // The same socket setting as winddown-server's (and hyper-timer's).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let stop = shutdown.draining();
            let serve = axum::serve(listener, router).with_graceful_shutdown(stop);
            shutdown.run_until(serve.into_future()).await
        }
        "--server" => {
            let service = router.layer(DrainLayer::new(shutdown.clone()));
            let serve = winddown_server::serve(listener, service, shutdown.clone());
            shutdown.run_until(serve).await
        }
        "--server-outer" => {
            let service = DrainLayer::new(shutdown.clone()).layer(router);
            let serve = winddown_server::serve(listener, service, shutdown.clone());
            shutdown.run_until(serve).await
        }
        "--server-no-layer" => {
            let serve = winddown_server::serve(listener, router, shutdown.clone());
            shutdown.run_until(serve).await
        }
        "--outer" => {
            let service = DrainLayer::new(shutdown.clone())
                .layer(router)
                .map_request(|req: axum::extract::Request| req)
                .map_response(IntoResponse::into_response);
            let stop = shutdown.draining();
            let serve =
                axum::serve(listener, service.into_make_service()).with_graceful_shutdown(stop);
            shutdown.run_until(serve.into_future()).await
        }
        "--in-flight-peer" => {
            let (layer, _count) = InFlightRequestsLayer::pair();
            let router = router.layer(layer);
            let stop = shutdown.draining();
            let serve = axum::serve(listener, router).with_graceful_shutdown(stop);
            shutdown.run_until(serve.into_future()).await
        }
        "" => {
            let router = router.layer(DrainLayer::new(shutdown.clone()));
            let stop = shutdown.draining();
            let serve = axum::serve(listener, router).with_graceful_shutdown(stop);
            shutdown.run_until(serve.into_future()).await
        }
        "--hyper-timer" => {
            let serve = async move {
                hyper_timer(listener, router).await;
                Ok::<(), std::io::Error>(())
            };
            shutdown.run_until(serve).await
        }
        other => {
            eprintln!(
                "unknown argument {other:?}: expected --no-layer, --no-layer-nodelay, --server, --server-outer, --server-no-layer, --outer, --in-flight-peer or --hyper-timer"
            );
            std::process::exit(2);
        }
    };
    // The server's own view of the end: from the end of the drain (the last
    // response body ended) to here, just before the process exits.
    if let Some(triggered) = shutdown.triggered_at() {
        let drain_end = triggered + report.announce + report.drain;
        println!(
            "shutdown: server_drain_end_after_term_ms={:.3} server_exit_after_drain_end_ms={:.3}",
            (drain_end - triggered).as_secs_f64() * 1e3,
            drain_end.elapsed().as_secs_f64() * 1e3,
        );
    }
    std::process::exit(report.exit_code());
}
