//! Run with `cargo run --release --example bench_drain_client -- target/release/examples/bench_hello --server`
//!
//! The load client of the in-flight drain benchmark (`scripts/bench-e2e.sh`).
//! It starts the server command it is given (which must print
//! `listening on ADDR` and serve `/slow` and `/arrived` like `bench_hello`),
//! opens `BENCH_CONNECTIONS` HTTP/2 connections to it on loopback (default
//! 100), sends `BENCH_REQUESTS` requests to `/slow` over them (default
//! 10000) — or, with `BENCH_HTTP1=1`, one HTTP/1.1 connection per request —
//! waits until the server has all of them in flight, sends SIGTERM,
//! and reads every response. It prints one line of `key=value` figures: how
//! many requests completed with `200 done`, how long after SIGTERM the last
//! response ended, and how long after that the server process exited (and
//! the server's own `shutdown: ...` figures, if it prints them).
//! Every wait is bounded; the server is killed if it outlives them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Bounds every wait of the run.
const LIMIT: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error + Send + Sync>;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn connect(addr: SocketAddr) -> Result<http2::SendRequest<Empty<Bytes>>, Error> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // Ends with an error or a GOAWAY when the server closes: expected.
        let _ = connection.await;
    });
    Ok(sender)
}

fn get(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .expect("a valid request")
}

/// How a `/slow` request travels.
#[derive(Clone)]
enum Via {
    /// A stream of this HTTP/2 connection.
    Http2(http2::SendRequest<Empty<Bytes>>),
    /// A connection of its own.
    Http1,
}

/// One `/slow` request: whether it ended with `200 done`, and when its body ended.
async fn slow(via: Via, addr: SocketAddr) -> (bool, Instant) {
    let result = async {
        let response = match via {
            Via::Http2(mut sender) => {
                sender.ready().await?;
                sender.send_request(get(addr, "/slow")).await?
            }
            Via::Http1 => {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(connection);
                sender.send_request(get(addr, "/slow")).await?
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, Error>(status == StatusCode::OK && body == "done")
    }
    .await;
    (matches!(result, Ok(true)), Instant::now())
}

async fn arrived(
    sender: &mut http2::SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
) -> Result<usize, Error> {
    sender.ready().await?;
    let response = sender.send_request(get(addr, "/arrived")).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(std::str::from_utf8(&body)?.trim().parse()?)
}

/// The server's resident memory (Linux), 0 if unknown.
fn server_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let requests = env_or("BENCH_REQUESTS", 10_000);
    let http1 = env_or("BENCH_HTTP1", 0) == 1;
    let connections = if http1 {
        requests
    } else {
        env_or("BENCH_CONNECTIONS", 100).max(1)
    };
    let mut args = std::env::args().skip(1);
    let program = args
        .next()
        .ok_or("usage: bench_drain_client SERVER [ARGS...]")?;
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let addr: SocketAddr = match line.trim().strip_prefix("listening on ") {
        Some(addr) => addr.parse()?,
        None => {
            kill(pid, "KILL");
            return Err(format!("unexpected first line from the server: {line:?}").into());
        }
    };
    // Keep reading the server's output so that it never blocks on a full
    // pipe, and keep its `shutdown: ...` figures.
    let (server_tx, server_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(figures) = line.strip_prefix("shutdown: ") {
                let _ = server_tx.send(figures.to_owned());
            }
        }
    });
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let status = child.wait();
        let _ = exit_tx.send((status, Instant::now()));
    });

    let run = async {
        let mut vias = Vec::new();
        if http1 {
            vias.push(Via::Http1);
        } else {
            for _ in 0..connections {
                vias.push(Via::Http2(connect(addr).await?));
            }
        }
        let mut probe = connect(addr).await?;
        let tasks: Vec<_> = (0..requests)
            .map(|i| tokio::spawn(slow(vias[i % vias.len()].clone(), addr)))
            .collect();
        let all_in = Instant::now() + LIMIT;
        loop {
            let now_in = arrived(&mut probe, addr).await?;
            if now_in >= requests {
                break;
            }
            if Instant::now() > all_in {
                return Err(format!("only {now_in} of {requests} requests arrived").into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(probe);
        drop(vias);
        let rss = server_rss_kb(pid);
        let term = Instant::now();
        kill(pid, "TERM");
        let mut completed = 0;
        let mut last = term;
        for task in tasks {
            let (ok, at) = task.await?;
            completed += usize::from(ok);
            last = last.max(at);
        }
        Ok::<_, Error>((completed, term, last, rss))
    };
    let (completed, term, last, rss) = match tokio::time::timeout(LIMIT, run).await {
        Ok(Ok(figures)) => figures,
        Ok(Err(error)) => {
            kill(pid, "KILL");
            return Err(error);
        }
        Err(_) => {
            kill(pid, "KILL");
            return Err("the run did not finish in time".into());
        }
    };
    let (status, exited) = match tokio::time::timeout(LIMIT, exit_rx).await {
        Ok(Ok((status, at))) => (status?, at),
        _ => {
            kill(pid, "KILL");
            return Err("the server did not exit in time".into());
        }
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let server = server_rx
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    println!(
        "requests={requests} protocol={} connections={connections} completed={completed} \
         last_response_after_term_ms={:.3} exit_after_last_response_ms={:.3} exit_code={} \
         server_rss_at_term_kb={rss} {server}",
        if http1 { "http1" } else { "h2" },
        ms(last - term),
        // Negative if the server was gone before this client had read it all.
        match exited.checked_duration_since(last) {
            Some(after) => ms(after),
            None => -ms(last - exited),
        },
        status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
    );
    Ok(())
}
