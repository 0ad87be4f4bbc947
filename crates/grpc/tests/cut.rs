//! A streaming call still open when the drain ends, over a real socket:
//! tonic's server or winddown's with the drain layer, tonic's client. The
//! client reads `UNAVAILABLE` (the status it retries elsewhere), not
//! `INTERNAL`.

use std::time::Duration;

use tokio::net::TcpListener;
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use winddown_core::Shutdown;
use winddown_http::DrainLayer;

/// Bound on each step that should happen at once.
const STEP: Duration = Duration::from_secs(10);

/// The server the call goes through.
#[derive(Debug, Clone, Copy)]
enum Which {
    Tonic,
    Winddown,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_open_at_the_drain_end_ends_with_unavailable_on_tonics_server() {
    stream_open_at_the_drain_end(Which::Tonic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_open_at_the_drain_end_ends_with_unavailable_on_winddowns_server() {
    stream_open_at_the_drain_end(Which::Winddown).await;
}

async fn stream_open_at_the_drain_end(which: Which) {
    let shutdown = Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::ZERO)
        .drain_timeout(Duration::from_millis(200))
        .timeout(Duration::from_secs(20))
        .build();
    // tonic-health's own service: its Watch streams stay open until the
    // client goes. The plain layer counts them (winddown_grpc::drain_layer
    // would exempt them), so the drain waits for this one until it ends.
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = match which {
        Which::Tonic => {
            let server = Server::builder()
                .layer(DrainLayer::new(shutdown.clone()))
                .add_service(health)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown.done());
            tokio::spawn(async move { server.await.map_err(|error| error.to_string()) })
        }
        Which::Winddown => {
            let routes = tonic::service::Routes::new(health).prepare();
            let app = winddown_http::Drain::new(routes, shutdown.clone());
            let server = winddown_server::serve(listener, app, shutdown.clone());
            tokio::spawn(async move { server.await.map_err(|error| error.to_string()) })
        }
    };

    let endpoint = Channel::from_shared(url).unwrap();
    let channel = tokio::time::timeout(STEP, endpoint.connect()).await;
    let channel = channel.unwrap().unwrap();
    let mut client = HealthClient::new(channel);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let watch = tokio::time::timeout(STEP, client.watch(request)).await;
    let mut watch = watch.unwrap().expect("Watch is answered").into_inner();
    let first = tokio::time::timeout(STEP, watch.message()).await.unwrap();
    let first = first.expect("a status").expect("open");
    assert_eq!(first.status(), ServingStatus::Serving);
    assert_eq!(shutdown.in_flight_count(), 1);

    shutdown.trigger();
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.run().await }
    });
    let end = tokio::time::timeout(STEP, watch.message()).await;
    let status = end
        .expect("the stream ends at the drain's end")
        .expect_err("with a status");
    assert_eq!(status.code(), Code::Unavailable, "{which:?}: {status:?}");
    assert!(
        status.message().contains("retry on another server"),
        "{status:?}"
    );

    let report = tokio::time::timeout(STEP, run).await.unwrap().unwrap();
    assert!(!report.drained, "the stream was open at the drain's end");
    assert_eq!(report.abandoned, 1, "the stream was cut");
    tokio::time::timeout(STEP, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
