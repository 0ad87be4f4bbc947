//! `examples/axum_service.rs` through one real SIGTERM with an HTTP/2
//! request, a WebSocket and an event stream open, each with a real client:
//! hyper's h2c client sees a graceful GOAWAY while announcing and its open
//! stream completes with all its bytes, tokio-tungstenite gets Close 1001 and
//! the event stream its clean end with a `retry:` hint when draining starts,
//! and the process exits 0 once the HTTP/2 request is done.

mod support;

#[path = "../crates/server/tests/common/h2watch.rs"]
mod h2watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use h2watch::{MAX_STREAM_ID, Seen, h2_client};
use support::Child;

const ANNOUNCE: Duration = Duration::from_millis(1000);

/// Blocking waits on the child, off the runtime's worker.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_websocket_and_event_stream_through_one_sigterm() {
    let child = Child::example(
        "axum_service",
        &[
            ("ANNOUNCE_MS", "1000"),
            ("DRAIN_TIMEOUT_MS", "5000"),
            ("SLOW_MS", "3000"),
        ],
    );
    let line = blocking(|| child.expect_line("listening on ", Duration::from_secs(20)));
    let addr: SocketAddr = line
        .rsplit("listening on ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // HTTP/2 (h2c): /slow, open at the signal.
    let seen = Arc::new(Seen::default());
    let client = h2_client(addr, seen.clone());
    let uri: http::Uri = format!("http://{addr}/slow").parse().unwrap();
    let slow = tokio::spawn(async move {
        let response = client.get(uri).await.expect("h2 response");
        let status = response.status();
        let body = response.into_body().collect().await.expect("h2 body");
        (status, body.to_bytes(), Instant::now())
    });
    blocking(|| child.expect_line("slow request started", Duration::from_secs(10)));

    // A WebSocket, echoing.
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .expect("websocket handshake");
    ws.send(Message::text("ping")).await.unwrap();
    match ws.next().await {
        Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), "ping"),
        other => panic!("expected the echo, got {other:?}"),
    }

    // An event stream, read raw (HTTP/1.1, chunked).
    let mut sse = TcpStream::connect(addr).await.unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    let mut events = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&events).contains("data: tick") {
        let n = sse.read(&mut buf).await.unwrap();
        assert!(n > 0, "the event stream ended before its first event");
        events.extend_from_slice(&buf[..n]);
    }

    let sent = Instant::now();
    child.signal("TERM");

    // GOAWAY, the graceful form, while announcing.
    let goaway = seen.wait_goaways(0, 1).await[0];
    assert_eq!(goaway.last_stream_id, MAX_STREAM_ID);
    let goaway_after = goaway.at.into_std() - sent;
    assert!(goaway_after < ANNOUNCE, "GOAWAY after {goaway_after:?}");

    // The WebSocket: Close 1001 when draining starts, after the announce.
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected Close 1001, got {other:?}"),
        }
    };
    let ws_after = sent.elapsed();
    assert_eq!(close.expect("a close frame").code, CloseCode::Away);
    assert!(
        ws_after >= ANNOUNCE,
        "closed while announcing: {ws_after:?}"
    );
    // As any client does, keep reading: tungstenite sends its answering
    // Close, and the stream then ends.
    let ws_done = tokio::spawn(async move { while ws.next().await.is_some() {} });

    // The event stream: a last event with `retry:`, then the last chunk.
    loop {
        let text = String::from_utf8_lossy(&events).into_owned();
        if text.ends_with("0\r\n\r\n") {
            assert!(text.contains("retry: 5000"), "{text}");
            break;
        }
        let n = sse.read(&mut buf).await.unwrap();
        assert!(n > 0, "the event stream was cut: {text}");
        events.extend_from_slice(&buf[..n]);
    }
    let sse_after = sent.elapsed();
    assert!(
        sse_after >= ANNOUNCE,
        "ended while announcing: {sse_after:?}"
    );

    // The HTTP/2 request completes with all its bytes.
    let (status, body, slow_done) = slow.await.unwrap();
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(body.len(), 100_000);
    assert_eq!(&body[..10], b"0123456789");

    ws_done.await.unwrap();
    let status = blocking(|| child.wait(Duration::from_secs(20)));
    assert_eq!(status.code(), Some(0));
    let exited = child.exited_at().unwrap();
    let exit_after_slow = exited.saturating_duration_since(slow_done);
    assert!(
        exit_after_slow < Duration::from_secs(2),
        "exit {exit_after_slow:?} after /slow completed"
    );
    let out = child.stdout_lines().join("\n");
    assert!(out.contains("websocket closed: GoingAway"), "{out}");
    println!(
        "axum_service, SIGTERM with h2c /slow, /ws and /events open: GOAWAY {:.1} ms after \
         the signal; WebSocket Close 1001 at {:.0} ms and the event stream's clean end at \
         {:.0} ms (announce {} ms); /slow completed with {} bytes at {:.0} ms; exit 0 {:.0} ms \
         after that",
        goaway_after.as_secs_f64() * 1e3,
        ws_after.as_secs_f64() * 1e3,
        sse_after.as_secs_f64() * 1e3,
        ANNOUNCE.as_millis(),
        body.len(),
        (slow_done - sent).as_secs_f64() * 1e3,
        exit_after_slow.as_secs_f64() * 1e3,
    );
}
