//! The HTTP examples (`axum_service`, `hyper_service`) as real processes,
//! stopped by a real SIGTERM while a slow request is in flight.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::Child;

/// Bound on starting a (debug) example up to its first line.
const START: Duration = Duration::from_secs(30);
/// Bound on the whole shutdown of an example.
const EXIT: Duration = Duration::from_secs(20);

/// A raw HTTP/1.1 response.
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// `GET path` on a new connection; reads until the server closes it.
fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

fn drains_cleanly(example: &str) {
    let child = Child::example(
        example,
        &[
            ("PORT", "0"),
            ("ANNOUNCE_MS", "1500"),
            ("SLOW_MS", "3500"),
            ("DRAIN_TIMEOUT_MS", "10000"),
        ],
    );
    let line = child.expect_line("listening on ", START);
    let addr: SocketAddr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let ready = get(addr, "/readyz");
    assert_eq!(ready.status, 200, "{}", ready.head);
    assert_eq!(ready.body, "ready\n");

    let slow = std::thread::spawn(move || get(addr, "/slow"));
    child.expect_line("slow request started", START);
    child.signal("TERM");
    child.expect_line("state: announcing", Duration::from_secs(5));

    let ready = get(addr, "/readyz");
    assert_eq!(ready.status, 503, "readiness fails from the signal on");
    let served = get(addr, "/");
    assert_eq!(served.status, 200, "still served while announcing");
    assert_eq!(served.header("connection").as_deref(), Some("close"));

    let draining = child.expect_line("state: draining", Duration::from_secs(5));
    assert!(draining.contains("in flight: 1"), "{draining}");
    let refused = get(addr, "/");
    assert_eq!(refused.status, 503, "new requests refused while draining");
    assert_eq!(refused.header("retry-after").as_deref(), Some("5"));
    assert_eq!(refused.header("connection").as_deref(), Some("close"));
    let live = get(addr, "/healthz");
    assert_eq!(live.status, 200, "liveness is exempt");

    let slow = slow.join().expect("slow request thread");
    assert_eq!(slow.status, 200, "the in-flight request finished");
    assert_eq!(slow.body.len(), 100_000, "with its full body");
    assert!(slow.body.as_bytes().chunks(10).all(|c| c == b"0123456789"));

    let status = child.wait(EXIT);
    assert_eq!(status.code(), Some(0), "clean exit");
    child.expect_line("slow request answered", Duration::from_secs(1));
    child.expect_line("shutdown report: clean", Duration::from_secs(1));
    child.expect_line("all in-flight work finished", Duration::from_secs(1));
}

#[test]
fn axum_example_drains_on_sigterm() {
    drains_cleanly("axum_service");
}

#[test]
fn hyper_example_drains_on_sigterm() {
    drains_cleanly("hyper_service");
}

/// Under file-descriptor pressure the probes stay reachable: the example
/// runs with a low `RLIMIT_NOFILE` (through `prlimit` from util-linux), and
/// more idle connections than it has descriptors are opened against it, so
/// `accept` fails. The server closes the connections idle the longest to
/// make room, and `/healthz` is answered long before the header read
/// timeout (10 s) would have closed the idle sockets by itself.
#[test]
fn probes_stay_reachable_when_idle_sockets_exhaust_the_descriptors() {
    const NOFILE: u32 = 64;
    const IDLE: usize = 200;
    let mut cmd = support::command("prlimit");
    cmd.arg(format!("--nofile={NOFILE}:{NOFILE}"))
        .arg("--")
        .arg(support::examples_dir().join("axum_service"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("PORT", "0");
    let child = Child::spawn(cmd);
    let line = child.expect_line("listening on ", START);
    let addr: SocketAddr = line
        .rsplit(' ')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    let idle: Vec<TcpStream> = (0..IDLE)
        .map(|_| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .expect("connect (the server keeps accepting)")
        })
        .collect();
    // The descriptors ran out: accept failed.
    child.expect_line("accept failed", Duration::from_secs(10));

    let asked = std::time::Instant::now();
    let probe = std::thread::spawn(move || get(addr, "/healthz"));
    let live = probe.join().expect("probe thread");
    let answered_after = asked.elapsed();
    eprintln!(
        "{IDLE} idle sockets against {NOFILE} descriptors: /healthz answered after {answered_after:?}"
    );
    assert_eq!(live.status, 200, "{}", live.head);
    assert_eq!(live.body, "alive (running)\n");
    assert!(
        answered_after < Duration::from_secs(5),
        "answered by making room, not at the header read timeout: {answered_after:?}"
    );
    drop(idle);

    child.signal("TERM");
    assert_eq!(child.wait(EXIT).code(), Some(0), "clean exit");
}
