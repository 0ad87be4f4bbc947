//! A WebSocket whose upgrade is answered while draining, over a real socket
//! with a real client (tokio-tungstenite) under `axum::serve`: answered
//! with `ws::on_upgrade`, the connection stays counted from its request to
//! its socket, so the drain waits for the socket's `1001` Close handshake
//! instead of ending as soon as the `101` has been sent.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::routing::get;
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::sync::mpsc::unbounded_channel;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use winddown_core::{Shutdown, State};
use winddown_http::DrainLayer;
use winddown_http::ws::{self, Closed};

/// How long the handler takes to set up once upgraded.
const SET_UP: Duration = Duration::from_millis(100);

/// Bounds every wait on the network, so that a failure cannot hang the run.
const BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn an_upgrade_answered_while_draining_is_drained_with_a_1001_close() {
    let shutdown = Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::ZERO)
        // Far beyond the test: the drain ends by completing, not by timing out.
        .drain_timeout(Duration::from_secs(60))
        .timeout(Duration::from_secs(120))
        .build();
    let entered = std::sync::Arc::new(Notify::new());
    let (closed_tx, mut closed_rx) = unbounded_channel();
    let app = Router::new()
        .route(
            "/ws",
            get({
                let (shutdown, entered) = (shutdown.clone(), entered.clone());
                move |upgrade: WebSocketUpgrade| {
                    let (shutdown, entered, closed_tx) =
                        (shutdown.clone(), entered.clone(), closed_tx.clone());
                    async move {
                        // The request is counted; it answers once draining has
                        // started, so its `101` ends while draining.
                        entered.notify_one();
                        shutdown.reached(State::Draining).await;
                        ws::on_upgrade(upgrade, &shutdown, move |mut socket| async move {
                            // The handler's own set-up before it reads (a
                            // subscription, a query): the socket is counted
                            // through it.
                            tokio::time::sleep(SET_UP).await;
                            while let Some(Ok(_)) = socket.recv().await {}
                            let _ = closed_tx.send((socket.is_draining(), socket.close().await));
                        })
                    }
                }
            }),
        )
        .layer(DrainLayer::new(shutdown.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut client, response) =
            tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
                .await
                .unwrap();
        assert_eq!(response.status(), 101);
        // The server's Close; reading on answers it and ends the stream.
        let first = client.next().await;
        while let Some(Ok(_)) = client.next().await {}
        first
    });
    timeout(BOUND, entered.notified()).await.unwrap();
    assert_eq!(shutdown.in_flight_count(), 1, "the upgrade request");

    shutdown.trigger();
    let report = timeout(BOUND, shutdown.run()).await.unwrap();
    // By the time the drain completed, the socket had been closed with its
    // handshake: the drain waited for it. (One thread: the handler reports
    // with no await after `close`, before the drain's task can run.)
    let (draining, closed) = closed_rx.try_recv().expect("closed before the drain ended");
    assert!(draining);
    assert_eq!(closed, Closed::GoingAway, "{report}");
    assert!(report.drained, "{report}");
    assert_eq!(report.abandoned, 0, "{report}");

    match timeout(BOUND, client).await.unwrap().unwrap() {
        Some(Ok(WsMessage::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the server's 1001 Close, got {other:?}"),
    }
    server.abort();
}

/// The count starts when the upgrade is answered, before any task runs, and
/// ends with the upgrade if it fails. No connection here: the request's
/// upgrade handle resolves to an error, as on a connection that closed
/// before the upgrade completed.
#[tokio::test(start_paused = true)]
async fn the_socket_is_counted_from_the_upgrade_answer_and_not_after_a_failed_upgrade() {
    use axum::extract::FromRequest;

    let shutdown = Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::ZERO)
        .drain_timeout(Duration::from_secs(30))
        .build();
    let mut request = http::Request::get("/ws")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(axum::body::Body::empty())
        .unwrap();
    let on_upgrade = hyper::upgrade::on(&mut request);
    request.extensions_mut().insert(on_upgrade);
    let upgrade = WebSocketUpgrade::from_request(request, &()).await.unwrap();

    let response = ws::on_upgrade(upgrade, &shutdown, |_socket| async {
        panic!("there is no connection to upgrade");
    });
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(shutdown.in_flight_count(), 1, "counted from the answer");

    // The failed upgrade ends the count: the drain completes (with the
    // count leaked, it would run to its timeout).
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(report.drained, "{report}");
    assert_eq!(report.abandoned, 0, "{report}");
    assert_eq!(shutdown.in_flight_count(), 0);
}
