//! The gRPC example (`grpc_service`) as a real process, called by a real
//! tonic client over a real socket and stopped by a real SIGTERM while a
//! slow call is in flight: once on winddown's server, once on
//! `tonic::transport::Server` with the drain layer added.

#[path = "../examples/echo/mod.rs"]
mod echo;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use echo::EchoClient;
use support::Child;

/// Bound on starting a (debug) example up to its first line.
const START: Duration = Duration::from_secs(30);
/// Bound on the whole shutdown of the example.
const EXIT: Duration = Duration::from_secs(20);
/// Bound on one call that should answer at once.
const CALL: Duration = Duration::from_secs(5);
/// How soon after SIGTERM health must say `NOT_SERVING`: at the trigger,
/// well before the 1.5 s announce delay ends (the margin is for a loaded
/// machine; the time is printed).
const FLIP: Duration = Duration::from_millis(1000);

/// Waits (off the runtime's threads) for a line of the child's output.
async fn line(child: &Arc<Child>, needle: &'static str, within: Duration) -> String {
    let child = child.clone();
    tokio::task::spawn_blocking(move || child.expect_line(needle, within))
        .await
        .expect("output reader")
}

/// A new HTTP/2 connection to `url`.
async fn connect(url: &str) -> Channel {
    let endpoint = Channel::from_shared(url.to_owned()).expect("a valid url");
    tokio::time::timeout(CALL, endpoint.connect())
        .await
        .expect("connect in time")
        .expect("connect")
}

/// `grpc.health.v1.Health/Check` of `service`.
async fn check(health: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    let request = HealthCheckRequest {
        service: service.into(),
    };
    tokio::time::timeout(CALL, health.check(request))
        .await
        .expect("health check in time")
        .expect("health check answered")
        .into_inner()
        .status()
}

/// `Say`, which must be refused with `UNAVAILABLE`.
async fn assert_refused(client: &mut EchoClient, how: &str) {
    let status = tokio::time::timeout(CALL, client.say("late"))
        .await
        .expect("answered in time")
        .expect_err("refused while draining");
    assert_eq!(
        status.code(),
        Code::Unavailable,
        "{how}: UNAVAILABLE, never Unknown or Internal: {status:?}"
    );
    assert!(
        status.message().contains("shutting down"),
        "{how}: {status:?}"
    );
}

async fn drains_cleanly(server: &'static str) {
    let child = Arc::new(Child::example(
        "grpc_service",
        &[
            ("SERVER", server),
            ("PORT", "0"),
            ("ANNOUNCE_MS", "1500"),
            ("SLOW_MS", "3000"),
            ("DRAIN_TIMEOUT_MS", "10000"),
        ],
    ));
    let listening = line(&child, "listening on ", START).await;
    let addr = listening.rsplit(' ').next().expect("an address");
    let url = format!("http://{addr}");

    // Running: served, and healthy.
    let channel = connect(&url).await;
    let mut client = EchoClient::new(channel.clone());
    let mut health = HealthClient::new(channel.clone());
    let said = tokio::time::timeout(CALL, client.say("hello")).await;
    assert_eq!(said.expect("in time").expect("Say is OK"), "hello");
    assert_eq!(check(&mut health, "").await, ServingStatus::Serving);
    assert_eq!(
        check(&mut health, "echo.Echo").await,
        ServingStatus::Serving
    );
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("Watch is answered")
        .into_inner();
    let first = tokio::time::timeout(CALL, watch.message()).await;
    let first = first.expect("in time").expect("a status").expect("open");
    assert_eq!(first.status(), ServingStatus::Serving);

    // A slow call in flight at the signal.
    let slow = tokio::spawn({
        let mut client = client.clone();
        async move { client.slow_say("slow").await }
    });
    line(&child, "slow call started", CALL).await;

    let signalled = Instant::now();
    child.signal("TERM");
    let update = tokio::time::timeout(CALL, watch.message()).await;
    let update = update.expect("in time").expect("a status").expect("open");
    let flipped = signalled.elapsed();
    assert_eq!(update.status(), ServingStatus::NotServing);
    eprintln!("{server}: NOT_SERVING {flipped:?} after SIGTERM");
    assert!(
        flipped <= FLIP,
        "health said NOT_SERVING {flipped:?} after SIGTERM, expected within {FLIP:?}"
    );

    // Announcing: unhealthy, yet still served.
    let announcing = line(&child, "state: announcing", CALL).await;
    assert_eq!(check(&mut health, "").await, ServingStatus::NotServing);
    assert_eq!(
        check(&mut health, "echo.Echo").await,
        ServingStatus::NotServing
    );
    let said = tokio::time::timeout(CALL, client.say("still here")).await;
    assert_eq!(
        said.expect("in time")
            .expect("Say is served while announcing"),
        "still here"
    );
    assert!(
        child
            .stdout_lines()
            .iter()
            .all(|l| !l.contains("state: draining")),
        "the checks above ran while announcing ({announcing})"
    );

    // Draining: new calls refused in gRPC terms, on the open connection and
    // on a new one; health is still answered; the slow call finishes.
    let draining = line(&child, "state: draining", Duration::from_secs(5)).await;
    assert!(draining.contains("in flight: 1"), "{draining}");
    assert_refused(&mut client, "on the open connection").await;
    let mut fresh = EchoClient::new(connect(&url).await);
    assert_refused(&mut fresh, "on a new connection").await;
    assert_eq!(check(&mut health, "").await, ServingStatus::NotServing);

    let slow = tokio::time::timeout(Duration::from_secs(10), slow).await;
    let slow = slow.expect("in time").expect("the slow call's task");
    assert_eq!(slow.expect("the call in flight finished OK"), "slow");

    // Done: the Watch stream ends cleanly, the process exits 0.
    let end = tokio::time::timeout(EXIT, watch.message()).await;
    let end = end.expect("Watch ends when the sequence is done");
    assert!(matches!(end, Ok(None)), "Watch ended cleanly: {end:?}");
    let status = tokio::task::spawn_blocking({
        let child = child.clone();
        move || child.wait(EXIT)
    })
    .await
    .expect("waiter");
    assert_eq!(status.code(), Some(0), "clean exit");
    child.expect_line("slow call answered", Duration::from_secs(1));
    child.expect_line("shutdown report: clean", Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_example_drains_on_sigterm_on_winddowns_server() {
    drains_cleanly("winddown").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_example_drains_on_sigterm_on_tonics_server() {
    drains_cleanly("tonic").await;
}
