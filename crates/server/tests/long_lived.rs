//! Long-lived traffic at shutdown, over real sockets with real clients: an
//! event stream read as raw chunked HTTP/1.1 ends cleanly with a `retry:`
//! hint when draining starts, and a WebSocket (tokio-tungstenite) gets
//! Close `1001` then, or is cut at the drain timeout if it does not answer.
//! Under winddown's server and under `axum::serve`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use winddown_core::{Shutdown, ShutdownReport, State};
use winddown_http::DrainLayer;
use winddown_http::sse::EndOnDrain;
use winddown_http::ws::{Closed, DrainingWebSocket};
use winddown_server::Server;

const ANNOUNCE: Duration = Duration::from_millis(300);

fn app(shutdown: &Shutdown, closed_tx: UnboundedSender<Closed>) -> Router {
    let events = {
        let shutdown = shutdown.clone();
        move || {
            let shutdown = shutdown.clone();
            async move {
                let ticks = futures_util::stream::unfold(0u64, |n| async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((Ok::<_, Infallible>(format!("data: tick {n}\n\n")), n + 1))
                });
                let body = EndOnDrain::new(axum::body::Body::from_stream(ticks), &shutdown)
                    .retry(Duration::from_secs(3));
                (
                    [("content-type", "text/event-stream")],
                    axum::body::Body::new(body),
                )
            }
        }
    };
    // `/ws` waits for the peer's Close as long as the default allows,
    // `/ws-short-wait` 300 ms.
    let ws = |close_wait: Duration| {
        let shutdown = shutdown.clone();
        let closed_tx = closed_tx.clone();
        move |upgrade: WebSocketUpgrade| {
            let shutdown = shutdown.clone();
            let closed_tx = closed_tx.clone();
            async move {
                upgrade.on_upgrade(move |socket| async move {
                    let mut socket =
                        DrainingWebSocket::new(socket, &shutdown).close_wait(close_wait);
                    while let Some(Ok(message)) = socket.recv().await {
                        if let Message::Text(text) = message
                            && socket.send(Message::Text(text)).await.is_err()
                        {
                            break;
                        }
                    }
                    let _ = closed_tx.send(socket.close().await);
                })
            }
        }
    };
    Router::new()
        .route("/events", get(events))
        .route("/ws", get(ws(Duration::MAX)))
        .route("/ws-short-wait", get(ws(Duration::from_millis(300))))
        .layer(DrainLayer::new(shutdown.clone()))
}

fn shutdown(drain_timeout: Duration) -> Shutdown {
    Shutdown::builder()
        .no_signals()
        .announce_delay(ANNOUNCE)
        .drain_timeout(drain_timeout)
        .timeout(Duration::from_secs(20))
        .build()
}

/// The two servers a user may run the app under.
#[derive(Debug, Clone, Copy)]
enum Stack {
    Winddown,
    AxumServe,
}

/// Starts the app under `stack`; the receiver gets how each WebSocket
/// ended, as the server's helper saw it.
async fn start(
    stack: Stack,
    shutdown: &Shutdown,
) -> (
    SocketAddr,
    JoinHandle<ShutdownReport>,
    UnboundedReceiver<Closed>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = unbounded_channel();
    let app = app(shutdown, closed_tx);
    let s = shutdown.clone();
    let run = match stack {
        Stack::Winddown => {
            let server = Server::new(s.clone());
            tokio::spawn(async move { s.run_until(server.serve(listener, app)).await })
        }
        Stack::AxumServe => tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(s.drain_ended());
            s.run_until(async move { serve.await }).await
        }),
    };
    (addr, run, closed_rx)
}

/// Reads one chunk of a chunked HTTP/1.1 body: `None` for the terminating
/// chunk. `buf` holds what was read but not used yet.
async fn read_chunk(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let size_line = String::from_utf8_lossy(&buf[..end]).into_owned();
            let size = usize::from_str_radix(size_line.trim(), 16)
                .unwrap_or_else(|_| panic!("a chunk size line, got {size_line:?}"));
            let total = end + 2 + size + 2;
            if buf.len() >= total {
                let data = buf[end + 2..end + 2 + size].to_vec();
                assert_eq!(&buf[end + 2 + size..total], b"\r\n", "chunk framing");
                buf.drain(..total);
                return (size > 0).then_some(data);
            }
        }
        let mut more = [0u8; 4096];
        let n = stream.read(&mut more).await.expect("the stream is not cut");
        assert!(n > 0, "the stream ended without its terminating chunk");
        buf.extend_from_slice(&more[..n]);
    }
}

/// Opens `/events` over raw HTTP/1.1; returns the stream positioned at the
/// body, with what was read past the head.
async fn open_events(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nhost: t\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut more = [0u8; 4096];
        let n = stream.read(&mut more).await.unwrap();
        assert!(n > 0, "a response head");
        buf.extend_from_slice(&more[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    buf.drain(..head_end);
    (stream, buf)
}

#[tokio::test]
async fn an_event_stream_ends_cleanly_with_a_retry_hint_when_draining_starts() {
    for stack in [Stack::Winddown, Stack::AxumServe] {
        let sd = shutdown(Duration::from_secs(10));
        let (addr, run, _) = start(stack, &sd).await;
        let (mut stream, mut buf) = open_events(addr).await;
        let first = read_chunk(&mut stream, &mut buf).await.unwrap();
        assert!(first.starts_with(b"data: tick 0"), "{first:?}");

        let triggered_at = Instant::now();
        sd.trigger();
        let mut events = Vec::new();
        let read = async {
            while let Some(chunk) = read_chunk(&mut stream, &mut buf).await {
                events.push(String::from_utf8(chunk).unwrap());
            }
        };
        timeout(Duration::from_secs(5), read)
            .await
            .expect("the stream ended well before the drain timeout");
        let ended_after = triggered_at.elapsed();
        let last = events.last().expect("a last event");
        assert_eq!(last, ": server shutting down, reconnect\nretry: 3000\n\n");
        assert!(
            events[..events.len() - 1]
                .iter()
                .all(|e| e.starts_with("data: tick")),
            "{events:?}"
        );
        assert!(ended_after >= ANNOUNCE, "still streaming while announcing");

        let report = timeout(Duration::from_secs(10), run)
            .await
            .expect("the server stops")
            .unwrap();
        assert!(report.drained, "{report}");
        assert_eq!(report.abandoned, 0, "a clean end is not a cut: {report}");
        assert_eq!(report.exit_code(), 0, "{report}");
        println!(
            "{stack:?}: SSE ended cleanly {:.0} ms after the trigger (announce {} ms), {} events then `retry: 3000`; drain {:.0} ms, abandoned {}",
            ended_after.as_secs_f64() * 1e3,
            ANNOUNCE.as_millis(),
            events.len() - 1,
            report.drain.as_secs_f64() * 1e3,
            report.abandoned
        );
    }
}

/// Under winddown's server, the event stream's HTTP/1 connection closes
/// right after the stream's clean end at drain start, well before done:
/// the `EventSource` reconnects on a new connection (which a load balancer
/// sends to another replica), not on this one, where it would be refused
/// while draining (and a refusal makes `EventSource` give up for good).
#[tokio::test]
async fn an_event_stream_ended_at_drain_start_closes_its_connection_after_it() {
    let sd = shutdown(Duration::from_secs(10));
    let release = winddown_testkit::hold_in_cleanup(&sd);
    let (addr, run, _) = start(Stack::Winddown, &sd).await;
    let (mut stream, mut buf) = open_events(addr).await;
    read_chunk(&mut stream, &mut buf).await.unwrap();
    sd.trigger();
    let read = async { while read_chunk(&mut stream, &mut buf).await.is_some() {} };
    timeout(Duration::from_secs(5), read)
        .await
        .expect("the stream ended at drain start");
    assert!(
        buf.is_empty(),
        "nothing after the terminating chunk: {buf:?}"
    );
    let mut more = [0u8; 256];
    let n = timeout(Duration::from_secs(5), stream.read(&mut more))
        .await
        .expect("the connection closed after the stream")
        .unwrap();
    assert_eq!(
        n,
        0,
        "closed, not {:?}",
        String::from_utf8_lossy(&more[..n])
    );
    assert_ne!(
        sd.state(),
        State::Done,
        "closed by the stream's end, not at done"
    );
    release.send(()).unwrap();
    let report = timeout(Duration::from_secs(10), run)
        .await
        .expect("the server stops")
        .unwrap();
    assert!(report.drained, "{report}");
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket to `/ws` that has echoed one message.
async fn open_ws(addr: SocketAddr) -> Ws {
    open_ws_at(addr, "/ws").await
}

/// A WebSocket to `path` that has echoed one message.
async fn open_ws_at(addr: SocketAddr, path: &str) -> Ws {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(format!("ws://{addr}{path}"), stream)
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    ws.send(WsMessage::text("hello")).await.unwrap();
    let echo = timeout(Duration::from_secs(5), ws.next()).await.unwrap();
    assert_eq!(echo.unwrap().unwrap(), WsMessage::text("hello"));
    ws
}

#[tokio::test]
async fn a_websocket_is_counted_in_flight_and_closed_with_1001_when_draining_starts() {
    for stack in [Stack::Winddown, Stack::AxumServe] {
        let sd = shutdown(Duration::from_secs(10));
        let (addr, run, mut closed) = start(stack, &sd).await;
        let mut ws = open_ws(addr).await;
        assert_eq!(
            sd.in_flight_count(),
            1,
            "the upgraded connection is in flight"
        );

        let triggered_at = Instant::now();
        sd.trigger();
        // Still echoing while announcing.
        ws.send(WsMessage::text("still there")).await.unwrap();
        let echo = timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        assert_eq!(echo.unwrap().unwrap(), WsMessage::text("still there"));
        assert_eq!(sd.state(), State::Announcing);

        let close = timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a close frame before the drain timeout")
            .unwrap()
            .unwrap();
        let closed_after = triggered_at.elapsed();
        let WsMessage::Close(Some(frame)) = close else {
            panic!("expected Close 1001, got {close:?}");
        };
        assert_eq!(frame.code, CloseCode::Away);
        assert_eq!(frame.reason, "server shutting down");
        assert!(closed_after >= ANNOUNCE, "{closed_after:?}");
        // tungstenite answered the Close; the stream then ends.
        let end = timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        assert!(end.is_none(), "{end:?}");

        let report = timeout(Duration::from_secs(10), run)
            .await
            .expect("the server stops")
            .unwrap();
        assert!(report.drained, "{report}");
        assert_eq!(report.abandoned, 0, "{report}");
        assert_eq!(closed.recv().await, Some(Closed::GoingAway));
        println!(
            "{stack:?}: WebSocket got Close 1001 {:.0} ms after the trigger (announce {} ms); drain {:.0} ms, abandoned {}",
            closed_after.as_secs_f64() * 1e3,
            ANNOUNCE.as_millis(),
            report.drain.as_secs_f64() * 1e3,
            report.abandoned
        );
    }
}

#[tokio::test]
async fn a_websocket_that_ignores_the_close_is_cut_at_the_drain_timeout() {
    let drain_timeout = Duration::from_millis(700);
    for stack in [Stack::Winddown, Stack::AxumServe] {
        let sd = shutdown(drain_timeout);
        let (addr, run, mut closed) = start(stack, &sd).await;
        // This client stops reading: it never answers the Close.
        let mut ws = open_ws(addr).await;

        let triggered_at = Instant::now();
        sd.trigger();
        let report = timeout(Duration::from_secs(10), run)
            .await
            .expect("the server stops")
            .unwrap();
        let exited_after = triggered_at.elapsed();
        assert!(!report.drained, "{report}");
        assert_eq!(report.abandoned, 1, "{report}");
        assert_eq!(closed.recv().await, Some(Closed::Cut));
        assert_eq!(report.exit_code(), 0, "{report}");
        assert!(
            exited_after >= ANNOUNCE + drain_timeout,
            "held until the drain timeout: {exited_after:?}"
        );

        // What the client finds when it reads at last: the Close 1001 sent
        // at drain start, then the connection is gone.
        let close = timeout(Duration::from_secs(5), ws.next()).await.unwrap();
        match close {
            Some(Ok(WsMessage::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected Close 1001, got {other:?}"),
        }
        let mut rest = Vec::new();
        let mut inner = ws.into_inner();
        let _ = timeout(Duration::from_secs(5), inner.read_to_end(&mut rest))
            .await
            .expect("the connection was dropped");
        println!(
            "{stack:?}: WebSocket ignoring the Close cut at the drain timeout; exit {:.0} ms after the trigger (announce {} ms + drain timeout {} ms), abandoned {}",
            exited_after.as_secs_f64() * 1e3,
            ANNOUNCE.as_millis(),
            drain_timeout.as_millis(),
            report.abandoned
        );
    }
}

/// A peer that never answers the Close is let go after the close wait: it
/// holds neither the drain open to its timeout nor its task; the drain ends
/// as drained, nothing abandoned.
#[tokio::test]
async fn a_websocket_that_ignores_the_close_is_dropped_after_the_close_wait() {
    let drain_timeout = Duration::from_secs(10);
    let sd = shutdown(drain_timeout);
    let (addr, run, mut closed) = start(Stack::Winddown, &sd).await;
    // This client stops reading: it never answers the Close.
    let _ws = open_ws_at(addr, "/ws-short-wait").await;
    sd.trigger();
    let report = timeout(drain_timeout, run)
        .await
        .expect("the server stopped well before the drain timeout")
        .unwrap();
    assert_eq!(closed.recv().await, Some(Closed::Unanswered));
    assert!(report.drained, "{report}");
    assert_eq!(report.abandoned, 0, "{report}");
    assert!(report.drain < drain_timeout, "{report}");
}
