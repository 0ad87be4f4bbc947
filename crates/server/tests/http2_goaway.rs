//! HTTP/2 at the trigger, over a real socket with hyper's pooled HTTP/2
//! client: a graceful GOAWAY (RFC 9113 §6.8: the maximum stream id, then
//! the last stream processed) while announcing, the open stream completes
//! with all its bytes, and the next request goes on a new connection.

#[path = "common/h2watch.rs"]
mod h2watch;

use h2watch::{MAX_STREAM_ID, Seen, h2_client};

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::{ServiceBuilder, service_fn};
use winddown_core::{BoxError, Shutdown, State};
use winddown_http::DrainLayer;
use winddown_server::Server;

/// The `/slow` body: `SLOW_CHUNKS` chunks of `SLOW_CHUNK` bytes.
const SLOW_CHUNK: usize = 10_000;
const SLOW_CHUNKS: usize = 10;

fn slow_byte(i: usize) -> u8 {
    b"0123456789abcdef"[i % 16]
}

type TestBody = BoxBody<Bytes, BoxError>;

/// `/slow` sends its first chunk, then the rest once `release` is notified.
async fn handler(
    req: Request<Incoming>,
    release: Arc<Notify>,
) -> Result<Response<TestBody>, Infallible> {
    if req.uri().path() != "/slow" {
        return Ok(Response::new(
            Full::new(Bytes::from("hello")).map_err(Into::into).boxed(),
        ));
    }
    let (mut tx, body) = Channel::<Bytes, BoxError>::new(1);
    tokio::spawn(async move {
        let chunk = |n: usize| -> Bytes {
            (n * SLOW_CHUNK..(n + 1) * SLOW_CHUNK)
                .map(slow_byte)
                .collect::<Vec<u8>>()
                .into()
        };
        if tx.send_data(chunk(0)).await.is_err() {
            return;
        }
        release.notified().await;
        for n in 1..SLOW_CHUNKS {
            if tx.send_data(chunk(n)).await.is_err() {
                return;
            }
        }
    });
    Ok(Response::new(body.boxed()))
}

#[tokio::test]
async fn http2_connections_get_a_graceful_goaway_at_the_trigger() {
    let announce = Duration::from_secs(1);
    let shutdown = Shutdown::builder()
        .no_signals()
        .announce_delay(announce)
        .drain_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build();
    let release = Arc::new(Notify::new());
    let service = ServiceBuilder::new()
        .layer(DrainLayer::new(shutdown.clone()))
        .service(service_fn({
            let release = release.clone();
            move |req| handler(req, release.clone())
        }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        let server = Server::new(shutdown.clone());
        async move { shutdown.run_until(server.serve(listener, service)).await }
    });

    // hyper's pooled client, HTTP/2 only (h2c), through `Watched` sockets.
    let seen = Arc::new(Seen::default());
    let client = h2_client(addr, seen.clone());
    let uri = |path: &str| -> Uri { format!("http://{addr}{path}").parse().unwrap() };

    // A stream open at the trigger, its first chunk received.
    let response = client.get(uri("/slow")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = body
        .frame()
        .await
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap()
        .to_vec();
    assert_eq!(received.len(), SLOW_CHUNK);
    assert!(seen.goaways().is_empty(), "no GOAWAY before the trigger");

    let triggered_at = Instant::now();
    shutdown.trigger();
    let first = seen.wait_goaways(0, 1).await[0];
    assert_eq!(
        shutdown.state(),
        State::Announcing,
        "GOAWAY while announcing, not at done"
    );
    assert_eq!(
        first.last_stream_id, MAX_STREAM_ID,
        "the graceful form first"
    );
    let both = seen.wait_goaways(0, 2).await;
    assert_eq!(
        both[1].last_stream_id, 1,
        "then the last stream processed: /slow"
    );
    let goaway_after = first.at - triggered_at;
    let final_after = both[1].at - triggered_at;
    assert!(goaway_after < announce, "{goaway_after:?}");

    // A new request goes on a new connection, and is served (announcing).
    let response = client.get(uri("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "hello");
    assert_eq!(seen.connects(), 2, "the request went on a new connection");
    // That connection, accepted after the trigger, is sent away after its
    // first request.
    let second = seen.wait_goaways(1, 1).await[0];
    assert_eq!(second.last_stream_id, MAX_STREAM_ID);
    assert_eq!(shutdown.state(), State::Announcing);

    // The open stream completes with all its bytes.
    release.notify_one();
    while let Some(frame) = body.frame().await {
        received.extend_from_slice(&frame.unwrap().into_data().unwrap());
    }
    assert_eq!(received.len(), SLOW_CHUNK * SLOW_CHUNKS);
    assert!(received.iter().enumerate().all(|(i, b)| *b == slow_byte(i)));

    let report = run.await.unwrap();
    assert!(report.drained, "{report}");
    assert_eq!(report.abandoned, 0, "{report}");
    assert_eq!(report.exit_code(), 0, "{report}");
    println!(
        "HTTP/2: GOAWAY (max stream id) {:.1} ms after the trigger, final GOAWAY (last id 1) \
         {:.1} ms; open stream completed with {} bytes; next request on connection 2 of 2",
        goaway_after.as_secs_f64() * 1e3,
        final_after.as_secs_f64() * 1e3,
        received.len()
    );
}
