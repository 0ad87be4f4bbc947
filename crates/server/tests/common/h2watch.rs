//! Watching what an HTTP/2 client receives: a socket that passes bytes
//! through and notes every GOAWAY frame, and hyper's pooled h2c client over
//! it. Shared by the server's tests and the black-box tests of the examples.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, timeout};

const GOAWAY: u8 = 0x7;
/// The last stream id of the first, graceful GOAWAY (RFC 9113 §6.8).
pub const MAX_STREAM_ID: u32 = (1 << 31) - 1;

/// A GOAWAY frame a client connection received.
#[derive(Debug, Clone, Copy)]
pub struct GoAway {
    pub connection: usize,
    pub last_stream_id: u32,
    pub at: Instant,
}

/// What the client's connections received, frame by frame.
#[derive(Debug, Default)]
pub struct Seen {
    goaways: Mutex<Vec<GoAway>>,
    connects: Mutex<usize>,
    changed: Notify,
}

impl Seen {
    pub fn goaways(&self) -> Vec<GoAway> {
        self.goaways.lock().unwrap().clone()
    }

    pub fn connects(&self) -> usize {
        *self.connects.lock().unwrap()
    }

    /// Waits (at most 5 s) until `connection` has received `n` GOAWAYs.
    pub async fn wait_goaways(&self, connection: usize, n: usize) -> Vec<GoAway> {
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
pub struct Watched {
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

/// Connects to one address through a [`Watched`] socket reporting to a
/// [`Seen`].
#[derive(Clone)]
pub struct Connector {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

type Connecting = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<Watched>>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Watched>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Connecting {
        let (addr, seen) = (self.addr, self.seen.clone());
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            let connection = {
                let mut connects = seen.connects.lock().unwrap();
                *connects += 1;
                *connects - 1
            };
            Ok(TokioIo::new(Watched {
                stream,
                connection,
                seen,
                buf: Vec::new(),
            }))
        })
    }
}

/// hyper's pooled client, HTTP/2 only (h2c, prior knowledge), connecting to
/// `addr` through [`Watched`] sockets that report to `seen`.
pub fn h2_client(addr: SocketAddr, seen: Arc<Seen>) -> Client<Connector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build(Connector { addr, seen })
}
