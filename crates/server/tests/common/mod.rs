//! Shared pieces of the socket tests: the same app under axum and under
//! plain hyper, a server on 127.0.0.1:0, and HTTP/1.1, HTTP/2 and raw clients.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use winddown_core::{BoxError, Shutdown, ShutdownReport};
use winddown_http::{DrainLayer, Probe};
use winddown_server::Server;
pub use winddown_testkit::hold_in_cleanup;

/// Waits for cleanup (held by [`hold_in_cleanup`]'s hook), lets it go and
/// waits for done; the instant done was seen.
pub async fn release_until_done(
    shutdown: &Shutdown,
    release: tokio::sync::oneshot::Sender<()>,
) -> tokio::time::Instant {
    shutdown.cleanup_started().await;
    let done = shutdown.done();
    release.send(()).unwrap();
    done.await;
    tokio::time::Instant::now()
}

/// How long `/slow` takes.
pub const SLOW: Duration = Duration::from_millis(1000);
/// The size of the `/slow` body.
pub const SLOW_LEN: usize = 256 * 1024;
/// Chunks of `/stream`, and the pause before each.
pub const STREAM_CHUNKS: usize = 8;
pub const STREAM_EVERY: Duration = Duration::from_millis(150);

/// The size of the `/large` body: more than the server's socket send
/// buffer (at most 4 MiB by default on Linux) and a small client receive
/// buffer hold, so a client that does not read leaves the server blocked
/// writing it.
pub const LARGE_LEN: usize = 16 * 1024 * 1024;

fn large_body() -> Bytes {
    Bytes::from(vec![b'x'; LARGE_LEN])
}

/// The byte at `i` of the `/slow` body.
pub fn slow_byte(i: usize) -> u8 {
    b"0123456789abcdef"[i % 16]
}

fn slow_body() -> Bytes {
    (0..SLOW_LEN).map(slow_byte).collect::<Vec<u8>>().into()
}

/// A body fed by a task: `count` chunks (or endless) spaced by `every`.
/// The task stops when the body is dropped.
fn stream_body(count: Option<usize>, every: Duration) -> Channel<Bytes> {
    let (mut tx, body) = Channel::new(1);
    tokio::spawn(async move {
        let mut i = 0;
        while count.is_none_or(|n| i < n) {
            tokio::time::sleep(every).await;
            let chunk = match count {
                Some(_) => format!("chunk {i}\n"),
                None => format!("data: tick {i}\n\n"),
            };
            if tx.send_data(Bytes::from(chunk)).await.is_err() {
                return;
            }
            i += 1;
        }
    });
    body
}

/// The two stacks the layer must behave the same in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    Axum,
    Hyper,
}

pub const STACKS: [Stack; 2] = [Stack::Axum, Stack::Hyper];

/// The axum app of the tests, with the layer.
pub fn axum_app(shutdown: &Shutdown) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                slow_body()
            }),
        )
        .route(
            "/stream",
            get(|| async { axum::body::Body::new(stream_body(Some(STREAM_CHUNKS), STREAM_EVERY)) }),
        )
        .route(
            "/sse",
            get(|| async {
                (
                    [("content-type", "text/event-stream")],
                    axum::body::Body::new(stream_body(None, Duration::from_millis(50))),
                )
            }),
        )
        .route("/large", get(|| async { large_body() }))
        .route("/metrics", get(|| async { "metrics\n" }))
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .layer(DrainLayer::new(shutdown.clone()))
}

type HyperBody = BoxBody<Bytes, BoxError>;

fn boxed<B>(body: B) -> HyperBody
where
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

async fn hyper_handler(
    shutdown: Shutdown,
    req: Request<Incoming>,
) -> Result<Response<HyperBody>, Infallible> {
    let response = match req.uri().path() {
        "/" => Response::new(boxed(Full::new(Bytes::from("hello")))),
        "/slow" => {
            tokio::time::sleep(SLOW).await;
            Response::new(boxed(Full::new(slow_body())))
        }
        "/stream" => Response::new(boxed(stream_body(Some(STREAM_CHUNKS), STREAM_EVERY))),
        "/sse" => Response::builder()
            .header("content-type", "text/event-stream")
            .body(boxed(stream_body(None, Duration::from_millis(50))))
            .unwrap(),
        "/large" => Response::new(boxed(Full::new(large_body()))),
        "/metrics" => Response::new(boxed(Full::new(Bytes::from("metrics\n")))),
        "/readyz" => Probe::readiness(shutdown).oneshot(req).await?.map(boxed),
        "/healthz" => Probe::liveness(shutdown).oneshot(req).await?.map(boxed),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(boxed(Empty::new()))
            .unwrap(),
    };
    Ok(response)
}

/// Test timings: short, but long enough to act inside each state.
pub fn shutdown(announce: Duration, drain_timeout: Duration) -> Shutdown {
    Shutdown::builder()
        .no_signals()
        .announce_delay(announce)
        .drain_timeout(drain_timeout)
        .timeout(Duration::from_secs(20))
        .build()
}

/// Starts the app of `stack` on 127.0.0.1:0 under `Shutdown::run_until`.
pub async fn start(stack: Stack, shutdown: &Shutdown) -> (SocketAddr, JoinHandle<ShutdownReport>) {
    start_with(stack, shutdown, Server::new(shutdown.clone())).await
}

/// Like [`start`], with a configured [`Server`].
pub async fn start_with(
    stack: Stack,
    shutdown: &Shutdown,
    server: Server,
) -> (SocketAddr, JoinHandle<ShutdownReport>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let run = match stack {
        Stack::Axum => {
            let app = axum_app(shutdown);
            let s = shutdown.clone();
            tokio::spawn(async move { s.run_until(server.serve(listener, app)).await })
        }
        Stack::Hyper => {
            let sd = shutdown.clone();
            let service = ServiceBuilder::new()
                .layer(DrainLayer::new(shutdown.clone()))
                .service(service_fn(move |req| hyper_handler(sd.clone(), req)));
            let s = shutdown.clone();
            tokio::spawn(async move { s.run_until(server.serve(listener, service)).await })
        }
    };
    (addr, run)
}

/// The HTTP version a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http1,
    Http2,
}

pub const PROTOS: [Proto; 2] = [Proto::Http1, Proto::Http2];

/// One client connection, HTTP/1.1 (keep-alive) or HTTP/2 (h2c).
pub struct Client {
    proto: Proto,
    addr: SocketAddr,
    sender: Sender,
    /// The connection task: finishes when the server closes the connection.
    pub conn: JoinHandle<Result<(), hyper::Error>>,
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    pub async fn connect(proto: Proto, addr: SocketAddr) -> Client {
        let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
        match proto {
            Proto::Http1 => {
                let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                Client {
                    proto,
                    addr,
                    sender: Sender::Http1(sender),
                    conn: tokio::spawn(conn),
                }
            }
            Proto::Http2 => {
                let (sender, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .unwrap();
                Client {
                    proto,
                    addr,
                    sender: Sender::Http2(sender),
                    conn: tokio::spawn(conn),
                }
            }
        }
    }

    /// Sends `GET path` and returns the response head and streaming body.
    pub async fn get(&mut self, path: &str) -> Result<Response<Incoming>, hyper::Error> {
        match &mut self.sender {
            Sender::Http1(sender) => {
                let req = Request::get(path)
                    .header("host", self.addr.to_string())
                    .body(Empty::new())
                    .unwrap();
                sender.ready().await?;
                sender.send_request(req).await
            }
            Sender::Http2(sender) => {
                let req = Request::get(format!("http://{}{path}", self.addr))
                    .body(Empty::new())
                    .unwrap();
                sender.ready().await?;
                sender.send_request(req).await
            }
        }
    }

    pub fn proto(&self) -> Proto {
        self.proto
    }
}

/// One request on a new connection; the whole response.
pub async fn fetch(proto: Proto, addr: SocketAddr, path: &str) -> (Response<()>, String) {
    let mut client = Client::connect(proto, addr).await;
    let response = client.get(path).await.unwrap();
    let (head, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(head, ()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Sends raw bytes on a new connection and reads until the server closes
/// it; returns everything received.
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    read_all(&mut stream).await
}

/// Reads until EOF (bounded by 5 s).
pub async fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out))
        .await
        .expect("the server closed the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1 response.
pub fn raw_status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}
