//! HTTP/2 at the trigger, over a real socket with hyper's pooled HTTP/2
//! client: a graceful GOAWAY (RFC 9113 §6.8: the maximum stream id, then
//! the last stream processed) while announcing, the open stream completes
//! with all its bytes, and the next request goes on a new connection.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};
use tower::{ServiceBuilder, service_fn};
use winddown_core::{BoxError, Shutdown, State};
use winddown_http::DrainLayer;
use winddown_server::Server;

/// The `/slow` body: `SLOW_CHUNKS` chunks of `SLOW_CHUNK` bytes.
const SLOW_CHUNK: usize = 10_000;
const SLOW_CHUNKS: usize = 10;
const GOAWAY: u8 = 0x7;
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

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

/// A GOAWAY frame a client connection received.
#[derive(Debug, Clone, Copy)]
struct GoAway {
    connection: usize,
    last_stream_id: u32,
    at: Instant,
}

/// What the client's connections received, frame by frame.
#[derive(Debug, Default)]
struct Seen {
    goaways: Mutex<Vec<GoAway>>,
    connects: Mutex<usize>,
    changed: Notify,
}

impl Seen {
    fn goaways(&self) -> Vec<GoAway> {
        self.goaways.lock().unwrap().clone()
    }

    fn connects(&self) -> usize {
        *self.connects.lock().unwrap()
    }

    /// Waits (at most 5 s) until `connection` has received `n` GOAWAYs.
    async fn wait_goaways(&self, connection: usize, n: usize) -> Vec<GoAway> {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                let on: Vec<_> = self
                    .goaways()
                    .into_iter()
                    .filter(|g| g.connection == connection)
                    .collect();
                if on.len() >= n {
                    return on;
                }
                changed.await;
            }
        };
        timeout(Duration::from_secs(5), wait)
            .await
            .unwrap_or_else(|_| {
                panic!("expected connection {connection} to get {n} GOAWAY frames within 5 s")
            })
    }
}

/// The client's socket: bytes pass through untouched; the HTTP/2 frame
/// headers the server sends are parsed to note each GOAWAY.
struct Watched {
    stream: TcpStream,
    connection: usize,
    seen: Arc<Seen>,
    buf: Vec<u8>,
}

impl Watched {
    fn parse(&mut self) {
        // The server sends no preface: frames from the first byte.
        while self.buf.len() >= 9 {
            let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
            if self.buf.len() < 9 + len {
                return;
            }
            if self.buf[3] == GOAWAY && len >= 8 {
                let id =
                    u32::from_be_bytes([self.buf[9], self.buf[10], self.buf[11], self.buf[12]]);
                self.seen.goaways.lock().unwrap().push(GoAway {
                    connection: self.connection,
                    last_stream_id: id & MAX_STREAM_ID,
                    at: Instant::now(),
                });
                self.seen.changed.notify_waiters();
            }
            self.buf.drain(..9 + len);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let new = buf.filled()[before..].to_vec();
            self.buf.extend_from_slice(&new);
            self.parse();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connection for Watched {
    fn connected(&self) -> Connected {
        Connected::new()
    }
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
    let connector = service_fn({
        let seen = seen.clone();
        move |_: Uri| {
            let seen = seen.clone();
            Box::pin(async move {
                let stream = TcpStream::connect(addr).await?;
                let connection = {
                    let mut connects = seen.connects.lock().unwrap();
                    *connects += 1;
                    *connects - 1
                };
                Ok::<_, std::io::Error>(TokioIo::new(Watched {
                    stream,
                    connection,
                    seen,
                    buf: Vec::new(),
                }))
            })
        }
    });
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(connector);
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
