//! The accept loop: accept until the shutdown says stop, then close.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, Sleep, sleep, sleep_until};
use tracing::{debug, info, warn};
use winddown_core::{Shutdown, State};
use winddown_http::Drain;

use crate::activity::event;
use crate::bounds::{ServerBody, ServerService};
use crate::connection::{Accepted, ClosePolicy, serve_connection};
use crate::limits::{Limits, capped, ping_interval};
use crate::registry::Registry;

/// How long an HTTP/1 connection may still deliver a request at done.
const DEFAULT_CLOSE_GRACE: Duration = Duration::from_millis(250);
/// The bound on closing connections at done.
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_millis(750);
/// The first and the longest pause after `accept` failed for lack of
/// resources (file descriptors, memory). A connection closing ends the
/// pause early: it freed a descriptor.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves a tower service over HTTP/1.1 and HTTP/2 (h2c with prior
/// knowledge) and closes cleanly when the [`Shutdown`] is done.
///
/// Use the [`serve`](crate::serve) and
/// [`serve_with_drain`](crate::serve_with_drain) shortcuts for the defaults;
/// see the [crate docs](crate) for what happens when, and for the limits
/// that keep hostile or broken clients from holding connections forever.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use winddown_core::{Shutdown, State};
/// use winddown_server::Server;
/// # async fn demo(app: axum::Router) -> std::io::Result<()> {
/// let shutdown = Shutdown::new();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let server = Server::new(shutdown.clone())
///     .close_grace(Duration::from_millis(500))
///     .close_timeout(Duration::from_secs(1))
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(10_000);
/// let report = shutdown.run_until(server.serve_with_drain(listener, app)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call .serve(..) to run the server"]
pub struct Server {
    shutdown: Shutdown,
    stop_accepting: State,
    policy: ClosePolicy,
    limits: Limits,
    goaway_at_trigger: bool,
    /// Leave the connections queued at the stop to the next process that
    /// holds the socket, instead of taking them (see [`Server::leave_backlog`]).
    pub(crate) leave_backlog: bool,
}

impl Server {
    /// A server following `shutdown`, with the default settings.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let server = Server::new(Shutdown::builder().no_signals().build());
    /// # drop(server);
    /// ```
    pub fn new(shutdown: Shutdown) -> Self {
        Server {
            shutdown,
            stop_accepting: State::Done,
            policy: ClosePolicy {
                grace: DEFAULT_CLOSE_GRACE,
                timeout: DEFAULT_CLOSE_TIMEOUT,
            },
            limits: Limits::default(),
            goaway_at_trigger: true,
            leave_backlog: false,
        }
    }

    /// Whether HTTP/2 connections get a graceful GOAWAY at the trigger
    /// (default `true`), the HTTP/2 analog of the `Connection: close` that
    /// HTTP/1 responses carry while announcing: open streams complete, and
    /// clients open new streams on a new connection. With `false`, HTTP/2
    /// connections get their GOAWAY at done.
    ///
    /// Turn it off for clients that fail, rather than retry elsewhere, a
    /// request they had queued on a connection that received GOAWAY (tonic
    /// 0.14 fails such a call with `CANCELLED`; it was never sent).
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let server = winddown_server::Server::new(shutdown).http2_goaway_at_trigger(false);
    /// ```
    pub fn http2_goaway_at_trigger(mut self, enabled: bool) -> Self {
        self.goaway_at_trigger = enabled;
        self
    }

    /// The state at which the listener closes (default [`State::Done`]).
    ///
    /// Keeping it open until done lets late clients get a fast `503` with
    /// `Retry-After` instead of a refused connection, and keeps `/metrics`
    /// and the probes reachable while the hooks run. `State::Draining`
    /// refuses new connections as soon as draining starts instead.
    /// `State::Running` counts as `State::Announcing`: the listener never
    /// closes before the trigger.
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// use winddown_server::Server;
    ///
    /// // Behind a load balancer that retries refused connections elsewhere.
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown).stop_accepting_at(State::Draining);
    /// # drop(server);
    /// ```
    pub fn stop_accepting_at(mut self, state: State) -> Self {
        self.stop_accepting = state.max(State::Announcing);
        self
    }

    /// How long, at done, an HTTP/1 connection may still deliver a request
    /// the client may already have sent (default 250 ms). It is answered
    /// (`503`, `Connection: close`) and the connection closes; connections
    /// that stay idle are closed after this grace. Any duration is
    /// accepted; the [close timeout](Self::close_timeout) ends it when it is
    /// shorter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown).close_grace(Duration::from_millis(100));
    /// # drop(server);
    /// ```
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.policy.grace = grace;
        self
    }

    /// The bound on closing connections, counted from done (default
    /// 750 ms): what is still open then is dropped, whatever it is doing (a
    /// client that stopped reading, a request head that never ends). Keep
    /// it under one second with [`Shutdown::run_until`], which drops the
    /// service future a second after done. Any duration is accepted;
    /// `Duration::MAX` waits for every connection to close by itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown)
    ///     .close_grace(Duration::from_millis(200))
    ///     .close_timeout(Duration::from_millis(500));
    /// # drop(server);
    /// ```
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.policy.timeout = timeout;
        self
    }

    /// How long a new connection may take to deliver its first request
    /// head (HTTP/1) or the connection preface (HTTP/2), counted from the
    /// accept (default 10 s). A connection that sends nothing, or only part
    /// of a head or of the preface, is closed then. `None` turns the bound
    /// off; any duration is accepted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let strict = Server::new(shutdown.clone()).header_read_timeout(Duration::from_secs(2));
    /// let unbounded = Server::new(shutdown).header_read_timeout(None);
    /// # drop((strict, unbounded));
    /// ```
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.header_read_timeout = timeout.into();
        self
    }

    /// How long a connection may stay without a request in progress once
    /// it has delivered its first request (or preface): keep-alive between
    /// HTTP/1 requests (including the time to send the next head), an
    /// HTTP/2 connection with no open stream (default 75 s, above the 60 s
    /// idle timeout of common load balancers, so that they close the
    /// connections they pool first). It is then closed: HTTP/1 at once,
    /// HTTP/2 with GOAWAY. A request is in progress until its response body
    /// has been sent, so a long stream is never cut by this. `None` turns
    /// the bound off; any duration is accepted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// // Behind a load balancer that keeps idle connections for 350 s.
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown).idle_timeout(Duration::from_secs(360));
    /// # drop(server);
    /// ```
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.idle_timeout = timeout.into();
        self
    }

    /// How often an HTTP/2 connection is pinged (default 20 s), with or
    /// without open streams. A peer that does not answer within the
    /// [keep-alive timeout](Self::http2_keep_alive_timeout) is gone, and the
    /// connection is closed. `None` (or zero) turns pings off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown)
    ///     .http2_keep_alive_interval(Duration::from_secs(10))
    ///     .http2_keep_alive_timeout(Duration::from_secs(5));
    /// let without_pings = server.clone().http2_keep_alive_interval(None);
    /// # drop((server, without_pings));
    /// ```
    pub fn http2_keep_alive_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        self.limits.http2_keep_alive_interval = interval.into();
        self
    }

    /// How long an HTTP/2 peer may take to answer a keep-alive ping
    /// (default 20 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown).http2_keep_alive_timeout(Duration::from_secs(5));
    /// # drop(server);
    /// ```
    pub fn http2_keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.limits.http2_keep_alive_timeout = timeout;
        self
    }

    /// The most connections open at once (default `None`: no limit but the
    /// process's file descriptors).
    ///
    /// At the limit, the connection idle the longest (no request in
    /// progress: waiting for its first request, or kept alive between
    /// requests) is closed to make room for the next one, so that probes
    /// and new clients still get in when idle sockets pile up. When every
    /// connection has a request in progress, new connections wait in the
    /// listen backlog until one closes: a request in progress is never cut
    /// to make room. Connections being closed to make room may briefly
    /// exceed the limit. The same happens when `accept` fails because the
    /// process is out of file descriptors, with or without a limit.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let server = Server::new(shutdown).max_connections(10_000);
    /// # drop(server);
    /// ```
    pub fn max_connections(mut self, max: impl Into<Option<usize>>) -> Self {
        // Zero would never accept anything: at least one.
        self.limits.max_connections = max.into().map(|max| max.max(1));
        self
    }

    /// Serves `service` on `listener` until the shutdown is done and every
    /// connection is closed.
    ///
    /// The service is used as it is: apply a [`DrainLayer`](winddown_http::DrainLayer) to it (for an
    /// axum `Router`, `.layer(DrainLayer::new(shutdown))`), or use
    /// [`serve_with_drain`](Self::serve_with_drain).
    ///
    /// Returns `Ok(())` once done and closed; errors only if the listener's
    /// address cannot be read. Cancel safe in the sense that dropping the
    /// future closes the listener and every connection at once.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response};
    /// use hyper::body::Incoming;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tower::Layer;
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    /// use winddown_server::Server;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let hello = tower::service_fn(|_: Request<Incoming>| async {
    ///     Ok::<_, Infallible>(Response::new(String::from("hello")))
    /// });
    /// let service = DrainLayer::new(shutdown.clone()).layer(hello);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// let server = Server::new(shutdown.clone()).serve(listener, service);
    /// let run = tokio::spawn({
    ///     let shutdown = shutdown.clone();
    ///     async move { shutdown.run_until(server).await }
    /// });
    ///
    /// let mut client = tokio::net::TcpStream::connect(addr).await?;
    /// client
    ///     .write_all(b"GET / HTTP/1.1\r\nhost: example\r\nconnection: close\r\n\r\n")
    ///     .await?;
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).await?;
    /// assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    /// assert!(answer.ends_with("hello"), "{answer}");
    ///
    /// shutdown.trigger();
    /// let report = run.await.expect("the shutdown ran");
    /// assert_eq!(report.exit_code(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve<S, B>(self, listener: TcpListener, service: S) -> io::Result<()>
    where
        S: ServerService<B>,
        B: ServerBody,
    {
        let addr = listener.local_addr()?;
        let limits = self.limits;
        let mut builder = Builder::new(TokioExecutor::new());
        // No timer for HTTP/1: the connection's activity bounds the time to
        // the first request head and, after it, the time without a request
        // (which includes reading the next head), so hyper's per-request
        // header read timer would only add a clock read and a timer reset
        // to every request.
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(ping_interval(limits.http2_keep_alive_interval))
            .keep_alive_timeout(capped(limits.http2_keep_alive_timeout));
        let builder = Arc::new(builder);
        let registry = Arc::new(Registry::new(self.shutdown.clone()));
        // The trigger (for the GOAWAY) and done reach the connections
        // through the registry: one watcher for the whole server rather
        // than two futures in every connection.
        let _watcher = AbortOnDrop(tokio::spawn({
            let registry = registry.clone();
            let triggered = self.goaway_at_trigger.then(|| self.shutdown.triggered());
            let done = self.shutdown.done();
            async move {
                if let Some(triggered) = triggered {
                    triggered.await;
                    registry.broadcast(event::TRIGGERED);
                }
                done.await;
                registry.broadcast(event::DONE);
            }
        }));
        let mut connections = JoinSet::new();
        let spawn = |connections: &mut JoinSet<()>, stream: TcpStream, peer: SocketAddr| {
            // Small responses should not wait for Nagle.
            let _ = stream.set_nodelay(true);
            let (activity, entry) = registry.register();
            let accepted = Accepted {
                stream,
                peer,
                activity,
                entry,
                after_trigger: self.shutdown.is_shutting_down(),
            };
            connections.spawn(serve_connection(
                builder.clone(),
                accepted,
                service.clone(),
                self.policy,
                limits,
            ));
        };

        info!(target: "winddown", %addr, "serving HTTP/1.1 and HTTP/2");
        let stop = crate::outlive::stop_accepting(self.shutdown.clone(), self.stop_accepting);
        tokio::pin!(stop);
        // Set while accepting is paused after a failure for lack of
        // resources; the next pause is `backoff_next`.
        let mut backoff: Option<Pin<Box<Sleep>>> = None;
        let mut backoff_next = ACCEPT_BACKOFF_FIRST;
        loop {
            // At the limit, a new connection is accepted only if an idle
            // one can be closed to make room for it.
            let mut may_accept = true;
            let mut room_at = None;
            let full = match limits.max_connections {
                Some(max) if connections.len() >= max => {
                    // Wanted before looking, so that a connection going
                    // idle after the look still wakes the loop.
                    registry.idle_watch().want();
                    let room = registry.room();
                    may_accept = room.available > connections.len() - max;
                    if !may_accept {
                        room_at = room.next_at;
                    }
                    true
                }
                _ => {
                    registry.idle_watch().unwant();
                    false
                }
            };
            tokio::select! {
                biased;
                () = &mut stop => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {
                    // A descriptor was freed: try again at once.
                    backoff = None;
                }
                () = async { backoff.as_mut().expect("guarded").await }, if backoff.is_some() => {
                    backoff = None;
                }
                () = registry.idle_watch().went_idle(), if full && !may_accept => {}
                () = sleep_until(room_at.unwrap_or_else(Instant::now)), if room_at.is_some() => {}
                accepted = listener.accept(), if may_accept && backoff.is_none() => match accepted {
                    Ok((stream, peer)) => {
                        if backoff_next > ACCEPT_BACKOFF_FIRST {
                            info!(target: "winddown", %addr, "accepting again");
                        }
                        backoff_next = ACCEPT_BACKOFF_FIRST;
                        spawn(&mut connections, stream, peer);
                        if let Some(max) = limits.max_connections {
                            registry.make_room(connections.len().saturating_sub(max));
                        }
                    }
                    Err(error) if is_connection_error(&error) => {}
                    Err(error) => {
                        // Out of file descriptors and the like: close the
                        // connection idle the longest, if any, and pause
                        // (until a connection closes, at most the backoff)
                        // instead of spinning.
                        let room = registry.make_room(1);
                        if backoff_next == ACCEPT_BACKOFF_FIRST {
                            warn!(
                                target: "winddown",
                                %addr,
                                %error,
                                idle_connections_closing = room.available.min(1),
                                "accept failed; closing the longest-idle connection and pausing accept"
                            );
                        } else {
                            debug!(target: "winddown", %addr, %error, "accept failed again");
                        }
                        backoff = Some(Box::pin(sleep(backoff_next)));
                        backoff_next = (backoff_next * 2).min(ACCEPT_BACKOFF_MAX);
                    }
                },
            }
        }
        registry.idle_watch().unwant();

        if self.leave_backlog || crate::outlive::handed_off(&self.shutdown) {
            // Another process holds the socket too (the service manager,
            // the next instance): what the kernel has queued, and what
            // arrives from now on, waits in the backlog for it.
            info!(
                target: "winddown",
                %addr,
                "stopped accepting; leaving queued connections to the next process"
            );
        } else {
            self.take_backlog(listener, |stream, peer| {
                spawn(&mut connections, stream, peer)
            })?;
        }
        info!(
            target: "winddown",
            %addr,
            connections = connections.len(),
            "stopped accepting; closing connections"
        );
        while connections.join_next().await.is_some() {}
        info!(target: "winddown", %addr, "all connections closed");
        Ok(())
    }

    /// Takes the connections the kernel has already completed (their
    /// clients may have sent a request), then closes the listener: from
    /// here a connect is refused, a clean failure with nothing sent.
    fn take_backlog(
        &self,
        listener: TcpListener,
        mut spawn: impl FnMut(TcpStream, SocketAddr),
    ) -> io::Result<()> {
        let addr = listener.local_addr()?;
        info!(
            target: "winddown",
            %addr,
            "closing the listener: taking the connections already queued"
        );
        let listener = listener.into_std()?;
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    match stream
                        .set_nonblocking(true)
                        .and_then(|()| TcpStream::from_std(stream))
                    {
                        Ok(stream) => spawn(stream, peer),
                        Err(error) => {
                            debug!(target: "winddown", %peer, %error, "dropped a queued connection")
                        }
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    warn!(target: "winddown", %error, "accept failed while closing the listener");
                    break;
                }
            }
        }
        drop(listener);
        Ok(())
    }

    /// Like [`serve`](Self::serve), with a [`DrainLayer`](winddown_http::DrainLayer) (default settings)
    /// applied to `service` first.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use winddown_core::Shutdown;
    /// use winddown_server::Server;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> std::io::Result<()> {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let app: Router = Router::new().route("/", get(|| async { "hello" }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # shutdown.trigger(); // here, to stop at once
    /// let report = shutdown
    ///     .run_until(Server::new(shutdown.clone()).serve_with_drain(listener, app))
    ///     .await;
    /// assert_eq!(report.exit_code(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve_with_drain<S, B>(self, listener: TcpListener, service: S) -> io::Result<()>
    where
        S: ServerService<B>,
        B: ServerBody<Data: From<Bytes>>,
    {
        let service = Drain::new(service, self.shutdown.clone());
        self.serve(listener, service).await
    }
}

/// Aborts the task when dropped (with the server's future).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Errors that concern one connection, not the listener.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
