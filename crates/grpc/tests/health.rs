//! The health service's answers through the sequence, called directly on
//! paused time (the example's tests call it over a real socket).

use std::time::Duration;

use futures_util::StreamExt;
use tonic::{Code, Request};
use tonic_health::ServingStatus as Set;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::server::HealthReporter;
use winddown_core::{Shutdown, State};
use winddown_grpc::{DrainingHealth, WatchStream};

fn setup() -> (Shutdown, HealthReporter, DrainingHealth) {
    let shutdown = Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::from_secs(2))
        .drain_timeout(Duration::from_secs(5))
        .build();
    let reporter = HealthReporter::new();
    let health = DrainingHealth::new(reporter.clone(), shutdown.clone());
    (shutdown, reporter, health)
}

fn request(service: &str) -> Request<HealthCheckRequest> {
    Request::new(HealthCheckRequest {
        service: service.into(),
    })
}

async fn check(health: &DrainingHealth, service: &str) -> Result<ServingStatus, Code> {
    match health.check(request(service)).await {
        Ok(answer) => Ok(answer.into_inner().status()),
        Err(status) => Err(status.code()),
    }
}

async fn watch(health: &DrainingHealth, service: &str) -> WatchStream {
    health.watch(request(service)).await.unwrap().into_inner()
}

async fn next(stream: &mut WatchStream) -> Option<ServingStatus> {
    stream.next().await.map(|item| item.unwrap().status())
}

#[tokio::test(start_paused = true)]
async fn check_says_not_serving_from_the_trigger_on() {
    let (shutdown, reporter, health) = setup();
    reporter.set_service_status("echo.Echo", Set::Serving).await;
    reporter
        .set_service_status("admin.Admin", Set::NotServing)
        .await;
    reporter
        .set_service_status("batch.Batch", Set::Unknown)
        .await;
    assert_eq!(check(&health, "").await, Ok(ServingStatus::Serving));
    assert_eq!(
        check(&health, "echo.Echo").await,
        Ok(ServingStatus::Serving)
    );

    shutdown.trigger();
    assert_eq!(check(&health, "").await, Ok(ServingStatus::NotServing));
    assert_eq!(
        check(&health, "echo.Echo").await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(
        check(&health, "admin.Admin").await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(
        check(&health, "batch.Batch").await,
        Ok(ServingStatus::Unknown)
    );
    assert_eq!(check(&health, "never.Seen").await, Err(Code::NotFound));

    // Whatever the reporter is told afterwards.
    reporter.set_service_status("echo.Echo", Set::Serving).await;
    reporter.set_service_status("late.Late", Set::Serving).await;
    assert_eq!(
        check(&health, "echo.Echo").await,
        Ok(ServingStatus::NotServing)
    );
    assert_eq!(
        check(&health, "late.Late").await,
        Ok(ServingStatus::NotServing)
    );
}

#[tokio::test(start_paused = true)]
async fn watch_gets_not_serving_at_the_trigger_and_ends_when_done() {
    let (shutdown, reporter, health) = setup();
    reporter.set_service_status("echo.Echo", Set::Serving).await;
    let mut all = watch(&health, "").await;
    let mut echo = watch(&health, "echo.Echo").await;
    assert_eq!(next(&mut all).await, Some(ServingStatus::Serving));
    assert_eq!(next(&mut echo).await, Some(ServingStatus::Serving));

    // Changes while running come through as they are.
    reporter
        .set_service_status("echo.Echo", Set::NotServing)
        .await;
    assert_eq!(next(&mut echo).await, Some(ServingStatus::NotServing));
    reporter.set_service_status("echo.Echo", Set::Serving).await;
    assert_eq!(next(&mut echo).await, Some(ServingStatus::Serving));

    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown.trigger();
            shutdown.run().await
        }
    });
    let started = tokio::time::Instant::now();
    assert_eq!(next(&mut all).await, Some(ServingStatus::NotServing));
    assert_eq!(next(&mut echo).await, Some(ServingStatus::NotServing));
    assert_eq!(started.elapsed(), Duration::ZERO, "at the trigger");
    assert_eq!(shutdown.state(), State::Announcing);

    // Nothing more to say until the end: a SERVING from the reporter is
    // still NOT_SERVING, so it is not sent again.
    reporter.set_service_status("echo.Echo", Set::Serving).await;
    assert_eq!(next(&mut echo).await, None, "ends when done");
    assert_eq!(next(&mut all).await, None);
    assert_eq!(shutdown.state(), State::Done);
    assert_eq!(next(&mut all).await, None, "and stays ended");
    assert_eq!(run.await.unwrap().exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_watch_started_while_shutting_down_says_not_serving_at_once() {
    let (shutdown, _reporter, health) = setup();
    shutdown.trigger();
    let mut all = watch(&health, "").await;
    assert_eq!(next(&mut all).await, Some(ServingStatus::NotServing));
    let unknown = health.watch(request("never.Seen")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}
