//! The accept loop: accept until the shutdown says stop, then close.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::Service;
use tracing::{debug, info, warn};
use winddown_core::{BoxError, Shutdown, State};
use winddown_http::Drain;

use crate::connection::{ClosePolicy, serve_connection};

/// How long an HTTP/1 connection may still deliver a request at done.
const DEFAULT_CLOSE_GRACE: Duration = Duration::from_millis(250);
/// The bound on closing connections at done.
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_millis(750);

/// Serves a tower service over HTTP/1.1 and HTTP/2 (h2c with prior
/// knowledge) and closes cleanly when the [`Shutdown`] is done.
///
/// Use the [`serve`](crate::serve) and
/// [`serve_with_drain`](crate::serve_with_drain) shortcuts for the defaults;
/// see the [crate docs](crate) for what happens when.
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
///     .close_timeout(Duration::from_secs(1));
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
}

impl Server {
    /// A server following `shutdown`, with the default settings.
    pub fn new(shutdown: Shutdown) -> Self {
        Server {
            shutdown,
            stop_accepting: State::Done,
            policy: ClosePolicy {
                grace: DEFAULT_CLOSE_GRACE,
                timeout: DEFAULT_CLOSE_TIMEOUT,
            },
        }
    }

    /// The state at which the listener closes (default [`State::Done`]).
    ///
    /// Keeping it open until done lets late clients get a fast `503` with
    /// `Retry-After` instead of a refused connection, and keeps `/metrics`
    /// and the probes reachable while the hooks run. `State::Draining`
    /// refuses new connections as soon as draining starts instead.
    /// `State::Running` counts as `State::Announcing`: the listener never
    /// closes before the trigger.
    pub fn stop_accepting_at(mut self, state: State) -> Self {
        self.stop_accepting = state.max(State::Announcing);
        self
    }

    /// How long, at done, an HTTP/1 connection may still deliver a request
    /// the client may already have sent (default 250 ms). It is answered
    /// (`503`, `Connection: close`) and the connection closes; connections
    /// that stay idle are closed after this grace.
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.policy.grace = grace;
        self
    }

    /// The bound on closing connections, counted from done (default
    /// 750 ms): what is still open then is dropped. Keep it under one
    /// second with [`Shutdown::run_until`], which drops the service future a
    /// second after done.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.policy.timeout = timeout;
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
    pub async fn serve<S, B>(self, listener: TcpListener, service: S) -> io::Result<()>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let addr = listener.local_addr()?;
        let mut builder = Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new());
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let mut connections = JoinSet::new();
        let spawn = |connections: &mut JoinSet<()>, stream: TcpStream, peer: SocketAddr| {
            // Small responses should not wait for Nagle.
            let _ = stream.set_nodelay(true);
            connections.spawn(serve_connection(
                builder.clone(),
                stream,
                peer,
                service.clone(),
                self.shutdown.done(),
                self.policy,
            ));
        };

        info!(target: "winddown", %addr, "serving HTTP/1.1 and HTTP/2");
        let stop = self.shutdown.reached(self.stop_accepting);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => spawn(&mut connections, stream, peer),
                    Err(error) => accept_error(error).await,
                },
            }
        }

        // Take the connections the kernel has already completed (their
        // clients may have sent a request), then close the listener: from
        // here a connect is refused, a clean failure with nothing sent.
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
                        Ok(stream) => spawn(&mut connections, stream, peer),
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

    /// Like [`serve`](Self::serve), with a [`DrainLayer`](winddown_http::DrainLayer) (default settings)
    /// applied to `service` first.
    pub async fn serve_with_drain<S, B>(self, listener: TcpListener, service: S) -> io::Result<()>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: From<Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let service = Drain::new(service, self.shutdown.clone());
        self.serve(listener, service).await
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

async fn accept_error(error: io::Error) {
    if is_connection_error(&error) {
        return;
    }
    // Out of file descriptors and the like: back off instead of spinning.
    warn!(target: "winddown", %error, "accept failed; retrying in 50ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
