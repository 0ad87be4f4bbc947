use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, Channel};
use winddown_core::Shutdown;

use super::EndOnDrain;

fn shutdown() -> Shutdown {
    Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::from_secs(1))
        .drain_timeout(Duration::from_secs(10))
        .build()
}

async fn next(body: &mut EndOnDrain<Channel<Bytes, Infallible>>) -> Option<Bytes> {
    body.frame()
        .await
        .map(|frame| frame.unwrap().into_data().unwrap())
}

#[tokio::test(start_paused = true)]
async fn events_pass_until_draining_starts_then_the_last_event_ends_the_stream() {
    let shutdown = shutdown();
    let (mut tx, inner) = Channel::<Bytes, Infallible>::new(4);
    let mut body = EndOnDrain::new(inner, &shutdown).retry(Duration::from_millis(2500));

    tx.send_data(Bytes::from("data: 1\n\n")).await.unwrap();
    assert_eq!(next(&mut body).await.unwrap(), "data: 1\n\n");

    // Announcing: still streaming.
    shutdown.trigger();
    tx.send_data(Bytes::from("data: 2\n\n")).await.unwrap();
    assert_eq!(next(&mut body).await.unwrap(), "data: 2\n\n");
    assert!(!body.is_end_stream());

    // Other work keeps the sequence draining while we look.
    let _work = shutdown.in_flight_guard();
    tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    let last = next(&mut body).await.unwrap();
    assert_eq!(
        shutdown.state(),
        winddown_core::State::Draining,
        "ended when draining started"
    );
    assert_eq!(last, ": server shutting down, reconnect\nretry: 2500\n\n");
    assert!(body.is_end_stream());
    assert!(next(&mut body).await.is_none());
    // Nothing more is taken from the inner body.
    assert!(tx.send_data(Bytes::from("data: 3\n\n")).await.is_ok());
    assert!(next(&mut body).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_ends_by_itself_gets_no_last_event() {
    let shutdown = shutdown();
    let (mut tx, inner) = Channel::<Bytes, Infallible>::new(4);
    let mut body = EndOnDrain::new(inner, &shutdown);
    tx.send_data(Bytes::from("data: only\n\n")).await.unwrap();
    drop(tx);
    assert_eq!(next(&mut body).await.unwrap(), "data: only\n\n");
    assert!(next(&mut body).await.is_none());
    assert!(body.is_end_stream());
}

#[tokio::test(start_paused = true)]
async fn a_stream_opened_while_draining_ends_at_once_with_the_default_retry() {
    let shutdown = shutdown();
    shutdown.trigger();
    tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    shutdown.draining().await;
    let (_tx, inner) = Channel::<Bytes, Infallible>::new(4);
    let mut body = EndOnDrain::new(inner, &shutdown).retry(Duration::MAX);
    let last = next(&mut body).await.unwrap();
    assert!(last.ends_with(format!("retry: {}\n\n", u64::MAX).as_bytes()));
    let (_tx, inner) = Channel::<Bytes, Infallible>::new(4);
    let mut body = EndOnDrain::new(inner, &shutdown);
    assert!(next(&mut body).await.unwrap().ends_with(b"retry: 5000\n\n"));
}
