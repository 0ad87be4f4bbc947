//! Run with `cargo run --example grpc_service`, then press Ctrl+C (or send SIGTERM).
//!
//! A tonic gRPC service that drains cleanly: the `echo.Echo` service (see
//! `examples/echo/mod.rs` for its proto) and `grpc.health.v1.Health`, behind
//! winddown's drain layer, with one cleanup hook, under
//! `Shutdown::run_until`. From the signal on the health service answers
//! `NOT_SERVING` while calls are still served (announcing); then new calls
//! get `UNAVAILABLE` while the ones in flight finish (draining); the hook
//! runs; the report is printed.
//!
//! Environment: `ADDR` (default `127.0.0.1:$PORT`), `PORT` (default 0, a
//! free port), `ANNOUNCE_MS` (default 1000), `DRAIN_TIMEOUT_MS` (default
//! 10000), `SLOW_MS` (how long `SlowSay` takes, default 3000), `SERVER`:
//! `winddown` (default: winddown's server, HTTP/1.1 and HTTP/2) or `tonic`
//! (`tonic::transport::Server` with the layer added).
//!
//! Try it: save the proto in `examples/echo/mod.rs` as `echo.proto`, run
//! `grpcurl -plaintext -proto echo.proto -d '{"text":"hi"}' localhost:PORT echo.Echo/SlowSay`
//! in one terminal, Ctrl+C in the server's, and
//! `grpc-health-probe -addr=localhost:PORT` (or a `Say` with grpcurl) in a
//! third: health fails at once, `Say` is still answered while announcing,
//! then gets `Unavailable`; the slow call finishes.

mod echo;
mod support;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::Layer;

use crate::echo::EchoServer;
use crate::support::{addr, env_ms, print_progress, service_shutdown};

/// Which server runs the services.
enum Which {
    Winddown,
    Tonic,
}

/// `SERVER` from the environment; anything else is one clear line and exit 2.
fn which_server() -> Which {
    match std::env::var("SERVER").as_deref() {
        Err(_) | Ok("winddown") => Which::Winddown,
        Ok("tonic") => Which::Tonic,
        Ok(other) => {
            eprintln!("SERVER: expected \"winddown\" or \"tonic\", got {other:?}");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let which = which_server();
    let shutdown = service_shutdown("close-database");

    // NOT_SERVING for every service and for "" from the trigger on.
    let (reporter, health) = winddown::grpc::health_reporter(&shutdown);
    reporter.set_serving::<EchoServer>().await;
    let echo = EchoServer::new(env_ms("SLOW_MS", 3000));
    // UNAVAILABLE for new calls from draining on; health checks exempt.
    let drain = winddown::grpc::drain_layer(shutdown.clone());

    let listener = TcpListener::bind(addr()).await?;
    // Signals are handled from here on, before clients are told where to go.
    shutdown.listen_for_signals()?;
    println!("listening on {}", listener.local_addr()?);
    print_progress(&shutdown);

    let report = match which {
        Which::Winddown => {
            let routes = Routes::new(health).add_service(echo).prepare();
            let app = drain.layer(routes);
            // tonic's client does not retry a call it had queued on a
            // connection that received GOAWAY (it fails with CANCELLED,
            // unsent), so HTTP/2 connections are kept until done here;
            // health says NOT_SERVING from the trigger on instead.
            let server = winddown::server::Server::new(shutdown.clone())
                .http2_goaway_at_trigger(false)
                .serve(listener, app);
            shutdown.run_until(server).await
        }
        Which::Tonic => {
            let server = Server::builder()
                .layer(drain)
                .add_service(health)
                .add_service(echo)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown.done());
            shutdown.run_until(server).await
        }
    };
    println!("{report}");
    std::process::exit(report.exit_code());
}
