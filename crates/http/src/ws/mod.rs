//! WebSockets (axum) that take part in the drain: counted in flight, closed
//! with `1001 Going Away` when draining starts, cut when the drain ends.
//!
//! An upgraded connection outlives its `101 Switching Protocols` response,
//! so the [`DrainLayer`](crate::DrainLayer) stops counting it once the
//! upgrade is answered. Answer the upgrade with [`on_upgrade`], which hands
//! the handler a [`DrainingWebSocket`] counted from before the `101` (or
//! wrap the socket yourself with [`DrainingWebSocket::new`]), and:
//!
//! - it counts as one request **in flight** until it is dropped, so the
//!   drain waits for it (opt out with [`DrainingWebSocket::untracked`]: the
//!   drain then ignores the socket, which is dropped when the process
//!   exits);
//! - [`recv`](DrainingWebSocket::recv) returns `None` when the peer closed
//!   **or draining started** ([`is_draining`](DrainingWebSocket::is_draining)
//!   tells which), so a handler loop ends by itself;
//! - [`close`](DrainingWebSocket::close) then sends a Close frame with code
//!   `1001` (going away) and waits for the peer's Close, at most for the
//!   [close wait](DrainingWebSocket::close_wait) (5 s) and until the drain
//!   ends: a client that does not answer is dropped after the close wait,
//!   or **cut** when the drain ends first, and then counted as abandoned in
//!   the [`ShutdownReport`](winddown_core::ShutdownReport).
//!
//! Clients reconnect on `1001` to another replica: by the time draining
//! starts, load balancers have stopped sending new connections to this one.
//!
//! # Examples
//!
//! An echo handler (each text message is sent back), served on a real
//! socket, and a client that sees the `1001` Close when draining starts:
//!
//! ```
//! use axum::extract::ws::{Message, WebSocketUpgrade};
//! use axum::response::Response;
//! use axum::{Router, routing::get};
//! use futures_util::{SinkExt, StreamExt};
//! use tokio_tungstenite::tungstenite::{self, protocol::frame::coding::CloseCode};
//! use winddown_core::Shutdown;
//! use winddown_http::ws;
//!
//! async fn echo(upgrade: WebSocketUpgrade, shutdown: Shutdown) -> Response {
//!     ws::on_upgrade(upgrade, &shutdown, |mut socket| async move {
//!         while let Some(Ok(message)) = socket.recv().await {
//!             if let Message::Text(text) = message {
//!                 if socket.send(Message::Text(text)).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!         // Close 1001 if draining started; wait for the peer's Close.
//!         socket.close().await;
//!     })
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let shutdown = Shutdown::builder().no_signals().build();
//! let app: Router = Router::new().route(
//!     "/ws",
//!     get({
//!         let shutdown = shutdown.clone();
//!         move |ws: WebSocketUpgrade| echo(ws, shutdown)
//!     }),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let stream = tokio::net::TcpStream::connect(addr).await?;
//! let (mut client, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await?;
//! client.send(tungstenite::Message::text("hi")).await?;
//! assert_eq!(client.next().await.unwrap()?, tungstenite::Message::text("hi"));
//! // The echo came through the wrapped socket, which counts in flight.
//! assert_eq!(shutdown.in_flight_count(), 1);
//!
//! shutdown.trigger();
//! let run = tokio::spawn({
//!     let shutdown = shutdown.clone();
//!     async move { shutdown.run().await }
//! });
//! match client.next().await.unwrap()? {
//!     tungstenite::Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
//!     other => panic!("expected a Close frame, got {other:?}"),
//! }
//! // Reading on sends the client's answering Close; the drain waited for it.
//! while let Some(Ok(_)) = client.next().await {}
//! let report = run.await?;
//! assert_eq!(report.abandoned, 0);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use winddown_core::{DrainEnded, InFlightGuard, Shutdown, StateReached};

/// The reason sent with the `1001` Close frame.
const REASON: &str = "server shutting down";

/// How long [`DrainingWebSocket::close`] waits for the peer's Close by
/// default.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Answers a WebSocket upgrade: once upgraded, `handler` gets the socket as
/// a [`DrainingWebSocket`], counted in flight until it is dropped.
///
/// The count starts here, before the `101 Switching Protocols` answer,
/// while the upgrade request itself is still counted by the
/// [`DrainLayer`](crate::DrainLayer): the connection never leaves the count
/// between its request and its socket, so a drain that is waiting for that
/// request also waits for the socket's `1001` Close. (With
/// [`DrainingWebSocket::new`] in `WebSocketUpgrade::on_upgrade`, the count
/// starts only when the handler wraps the upgraded socket: a drain that
/// ends before that cuts the socket at once.) If the upgrade fails, the count
/// ends with it.
///
/// See the [module docs](self) for an example served on a real socket.
///
/// ```
/// use axum::extract::ws::WebSocketUpgrade;
/// use axum::response::Response;
/// use winddown_core::Shutdown;
/// use winddown_http::ws;
///
/// async fn notifications(upgrade: WebSocketUpgrade, shutdown: Shutdown) -> Response {
///     ws::on_upgrade(upgrade, &shutdown, |mut socket| async move {
///         // Ends when the peer closes or draining starts.
///         while let Some(Ok(_message)) = socket.recv().await {}
///         socket.close().await;
///     })
/// }
/// ```
pub fn on_upgrade<F, Fut>(upgrade: WebSocketUpgrade, shutdown: &Shutdown, handler: F) -> Response
where
    F: FnOnce(DrainingWebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let guard = shutdown.in_flight_guard();
    let shutdown = shutdown.clone();
    upgrade
        .on_upgrade(move |socket| handler(DrainingWebSocket::wrap(socket, &shutdown, Some(guard))))
}

/// How a [`DrainingWebSocket`] ended, from [`close`](DrainingWebSocket::close).
///
/// See [`close`](DrainingWebSocket::close) for an example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Closed {
    /// The peer closed (or the connection failed) before draining started.
    ByPeer,
    /// Closed with `1001` at drain start; the peer answered the Close.
    GoingAway,
    /// Closed with `1001`, but the peer did not answer before the drain
    /// ended: the connection was cut (and counted as abandoned).
    Cut,
    /// Closed with `1001`, but the peer did not answer within the
    /// [close wait](DrainingWebSocket::close_wait): the connection was
    /// dropped (before the drain's end, so not counted as abandoned).
    Unanswered,
}

/// An axum [`WebSocket`] that takes part in the drain.
///
/// See the [module docs](self) for an example.
pub struct DrainingWebSocket {
    socket: WebSocket,
    draining: StateReached,
    drain_ended: DrainEnded,
    shutdown: Shutdown,
    guard: Option<InFlightGuard>,
    /// Draining started while waiting in `recv`, or was seen there.
    draining_seen: bool,
    /// The peer closed, or the connection failed.
    peer_gone: bool,
    /// How long `close` waits for the peer's Close.
    close_wait: Duration,
}

impl DrainingWebSocket {
    /// Wraps `socket`; it counts as one request in flight until dropped.
    ///
    /// The count starts here, after the upgrade: [`on_upgrade`] starts it
    /// before the `101` answer, so that the connection is never out of the
    /// count in between.
    ///
    /// ```
    /// use axum::extract::ws::WebSocket;
    /// use winddown_core::Shutdown;
    /// use winddown_http::ws::DrainingWebSocket;
    ///
    /// async fn handle(socket: WebSocket, shutdown: Shutdown) {
    ///     let socket = DrainingWebSocket::new(socket, &shutdown);
    ///     assert!(shutdown.in_flight_count() >= 1);
    ///     socket.close().await;
    /// }
    /// ```
    pub fn new(socket: WebSocket, shutdown: &Shutdown) -> Self {
        Self::wrap(socket, shutdown, Some(shutdown.in_flight_guard()))
    }

    /// Wraps `socket` without counting it in flight: the drain does not
    /// wait for it and never counts it as abandoned. It is still closed
    /// with `1001` at drain start if the handler calls
    /// [`close`](Self::close).
    ///
    /// ```
    /// use axum::extract::ws::WebSocket;
    /// use winddown_core::Shutdown;
    /// use winddown_http::ws::DrainingWebSocket;
    ///
    /// // A best-effort feed the drain should not wait for.
    /// fn wrap(socket: WebSocket, shutdown: &Shutdown) -> DrainingWebSocket {
    ///     DrainingWebSocket::untracked(socket, shutdown)
    /// }
    /// ```
    pub fn untracked(socket: WebSocket, shutdown: &Shutdown) -> Self {
        Self::wrap(socket, shutdown, None)
    }

    /// Wraps `socket`, counted in flight while `guard` is held.
    fn wrap(socket: WebSocket, shutdown: &Shutdown, guard: Option<InFlightGuard>) -> Self {
        DrainingWebSocket {
            socket,
            draining: shutdown.draining(),
            drain_ended: shutdown.drain_ended(),
            shutdown: shutdown.clone(),
            guard,
            draining_seen: false,
            peer_gone: false,
            close_wait: CLOSE_WAIT,
        }
    }

    /// How long [`close`](Self::close) waits for the peer's Close (default
    /// 5 s), at most until the drain ends: one peer that never answers
    /// neither holds the drain open to its timeout nor keeps its task
    /// alive when the application closes before any shutdown. Any duration
    /// is accepted (`Duration::MAX`: until the drain ends).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use axum::extract::ws::WebSocket;
    /// # use winddown_core::Shutdown;
    /// # use winddown_http::ws::DrainingWebSocket;
    /// fn wrap(socket: WebSocket, shutdown: &Shutdown) -> DrainingWebSocket {
    ///     DrainingWebSocket::new(socket, shutdown).close_wait(Duration::from_secs(2))
    /// }
    /// ```
    pub fn close_wait(mut self, wait: Duration) -> Self {
        self.close_wait = wait;
        self
    }

    /// Whether draining has started: the handler should stop and call
    /// [`close`](Self::close).
    ///
    /// ```
    /// use winddown_http::ws::DrainingWebSocket;
    ///
    /// async fn handle(mut socket: DrainingWebSocket) {
    ///     while let Some(Ok(_message)) = socket.recv().await {}
    ///     if socket.is_draining() {
    ///         // The server is going away, not the peer.
    ///     }
    ///     socket.close().await;
    /// }
    /// ```
    pub fn is_draining(&self) -> bool {
        self.draining_seen || self.shutdown.state() >= winddown_core::State::Draining
    }

    /// The next message from the peer, or `None` when the peer closed the
    /// socket (or the connection failed) or when draining started.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: no message is lost if the future is dropped.
    ///
    /// ```
    /// use axum::extract::ws::Message;
    /// use winddown_http::ws::DrainingWebSocket;
    ///
    /// async fn count_texts(socket: &mut DrainingWebSocket) -> usize {
    ///     let mut texts = 0;
    ///     while let Some(Ok(message)) = socket.recv().await {
    ///         texts += usize::from(matches!(message, Message::Text(_)));
    ///     }
    ///     texts
    /// }
    /// ```
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        if self.peer_gone || self.is_draining() {
            return None;
        }
        tokio::select! {
            biased;
            () = &mut self.draining => {
                self.draining_seen = true;
                None
            }
            message = self.socket.recv() => {
                if !matches!(message, Some(Ok(_))) {
                    self.peer_gone = true;
                }
                message
            }
        }
    }

    /// Sends `message` to the peer.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the message may be partly sent.
    ///
    /// ```
    /// use axum::extract::ws::Message;
    /// use winddown_http::ws::DrainingWebSocket;
    ///
    /// async fn greet(socket: &mut DrainingWebSocket) -> Result<(), axum::Error> {
    ///     socket.send(Message::Text("hello".into())).await
    /// }
    /// ```
    pub async fn send(&mut self, message: Message) -> Result<(), axum::Error> {
        self.socket.send(message).await
    }

    /// Ends the socket: if the peer is gone, at once; otherwise sends Close
    /// with code `1001` (going away) and waits for the peer's Close, at
    /// most for the [close wait](Self::close_wait) (5 s) and until the
    /// drain ends, when the connection is cut (counted as abandoned unless
    /// [untracked](Self::untracked)). Sending the Close frame is bounded the
    /// same way (a peer that stopped reading cannot hold it).
    ///
    /// Call it when [`recv`](Self::recv) returned `None`. Before draining
    /// it closes the same way: the server is going away.
    ///
    /// ```
    /// use winddown_http::ws::{Closed, DrainingWebSocket};
    ///
    /// async fn finish(socket: DrainingWebSocket) {
    ///     match socket.close().await {
    ///         Closed::ByPeer | Closed::GoingAway => {}
    ///         Closed::Unanswered | Closed::Cut => eprintln!("the peer did not answer the Close"),
    ///         _ => {}
    ///     }
    /// }
    /// ```
    pub async fn close(mut self) -> Closed {
        if self.peer_gone {
            return Closed::ByPeer;
        }
        let Self {
            socket,
            drain_ended,
            close_wait,
            ..
        } = &mut self;
        let closing = async {
            let close = Message::Close(Some(CloseFrame {
                code: close_code::AWAY,
                reason: REASON.into(),
            }));
            if socket.send(close).await.is_err() {
                return Closed::ByPeer;
            }
            // The peer's Close ends the stream (tungstenite answers and
            // closes); data still in flight from the peer is dropped.
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
            Closed::GoingAway
        };
        tokio::select! {
            closed = closing => closed,
            () = drain_ended => Closed::Cut,
            () = tokio::time::sleep(*close_wait) => Closed::Unanswered,
        }
        // Dropping `self` drops the connection and the in-flight guard.
    }
}

impl fmt::Debug for DrainingWebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainingWebSocket")
            .field("tracked", &self.guard.is_some())
            .field("draining", &self.is_draining())
            .field("peer_gone", &self.peer_gone)
            .finish_non_exhaustive()
    }
}
