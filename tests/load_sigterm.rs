//! Load + SIGTERM: a full-rate load on the axum example while it is
//! signalled. Every request's fate is recorded; the only failures allowed are
//! 503s once announcing has ended and refused connections once the listener
//! is gone — no resets, no lost or truncated responses. One TCP race is
//! told apart rather than hidden: a handshake the kernel completes in the
//! instant the listener closes (after the server took every queued
//! connection) is reset with it, before any byte is served; such resets are
//! counted and printed, and allowed only from the server's "closing the
//! listener" line on.

mod support;

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use support::Child;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 16;
const ANNOUNCE_MS: u64 = 500;
/// Responses served before the signal: the load is running at full rate.
const LOAD_BEFORE_SIGNAL: u64 = 20 * CONNECTIONS as u64;

#[derive(Debug, Default, Clone)]
struct Fates {
    ok: u64,
    ok_closed: u64,
    rejected_503: u64,
    early_503: u64,
    refused: u64,
    reset: u64,
    /// When a connection reset before its first response: a handshake the
    /// kernel completed as the listener closed is reset with it (nothing
    /// was served; allowed only from the listener's close on).
    fresh_resets: Vec<SystemTime>,
    lost: u64,
    truncated: u64,
    other: Vec<String>,
}

impl Fates {
    fn add(&mut self, o: &Fates) {
        self.ok += o.ok;
        self.ok_closed += o.ok_closed;
        self.rejected_503 += o.rejected_503;
        self.early_503 += o.early_503;
        self.refused += o.refused;
        self.reset += o.reset;
        self.fresh_resets.extend(o.fresh_resets.iter().copied());
        self.lost += o.lost;
        self.truncated += o.truncated;
        self.other.extend(o.other.iter().cloned());
    }
}

enum Outcome {
    /// A complete response; whether the server asked to close.
    Response {
        status: u16,
        close: bool,
    },
    /// EOF before any byte of a response: the request was lost.
    Lost,
    /// EOF or error in the middle of a response.
    Truncated(String),
    Reset,
}

async fn one_request(reader: &mut BufReader<TcpStream>) -> Outcome {
    let req = b"GET / HTTP/1.1\r\nHost: load\r\n\r\n";
    if let Err(e) = reader.get_mut().write_all(req).await {
        return match e.kind() {
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => Outcome::Reset,
            _ => Outcome::Truncated(e.to_string()),
        };
    }
    let mut line = String::new();
    match reader.read_line(&mut line).await {
        Ok(0) => return Outcome::Lost,
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => return Outcome::Reset,
        Err(e) => return Outcome::Truncated(e.to_string()),
    }
    let status: u16 = match line.split(' ').nth(1).and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None => return Outcome::Truncated(format!("bad status line {line:?}")),
    };
    let mut length = None;
    let mut close = false;
    loop {
        let mut h = String::new();
        match reader.read_line(&mut h).await {
            Ok(0) => return Outcome::Truncated("EOF in headers".into()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Outcome::Reset,
            Err(e) => return Outcome::Truncated(e.to_string()),
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse::<usize>().ok();
            } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let Some(length) = length else {
        return Outcome::Truncated("no content-length".into());
    };
    let mut body = vec![0; length];
    match reader.read_exact(&mut body).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => return Outcome::Reset,
        Err(e) => return Outcome::Truncated(format!("body: {e}")),
    }
    if status == 200 && body != b"hello\n" {
        return Outcome::Truncated(format!("unexpected body {body:?}"));
    }
    Outcome::Response { status, close }
}

async fn worker(
    addr: String,
    signalled_at: Arc<std::sync::Mutex<Option<Instant>>>,
    exited: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    stop_at: Instant,
) -> Fates {
    let mut fates = Fates::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    // Whether the connection has had a response yet.
    let mut fresh = true;
    while Instant::now() < stop_at {
        if conn.is_none() {
            fresh = true;
        }
        let reader = match conn.as_mut() {
            Some(r) => r,
            None => match TcpStream::connect(&addr).await {
                Ok(s) => conn.insert(BufReader::new(s)),
                // A connect that is refused, or reset because the listener
                // closed with the handshake still in its backlog, sent
                // nothing: a clean failure the client can retry elsewhere.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset
                    ) =>
                {
                    fates.refused += 1;
                    if exited.load(Ordering::SeqCst) || signalled_at.lock().unwrap().is_some() {
                        // The listener is gone: the service is exiting.
                        break;
                    }
                    fates.other.push("refused before the signal".into());
                    break;
                }
                Err(e) => {
                    fates.other.push(format!("connect: {e}"));
                    break;
                }
            },
        };
        let outcome = one_request(reader).await;
        let was_fresh = std::mem::replace(&mut fresh, false);
        match outcome {
            Outcome::Response { status: 200, close } => {
                fates.ok += 1;
                served.fetch_add(1, Ordering::SeqCst);
                if close {
                    fates.ok_closed += 1;
                    conn = None;
                }
            }
            Outcome::Response { status: 503, close } => {
                let signalled = *signalled_at.lock().unwrap();
                match signalled {
                    Some(at) if at.elapsed() >= Duration::from_millis(ANNOUNCE_MS) => {
                        fates.rejected_503 += 1
                    }
                    _ => fates.early_503 += 1,
                }
                if close {
                    conn = None;
                }
            }
            Outcome::Response { status, .. } => {
                fates.other.push(format!("status {status}"));
                conn = None;
            }
            Outcome::Lost => {
                fates.lost += 1;
                conn = None;
            }
            Outcome::Truncated(why) => {
                fates.truncated += 1;
                fates.other.push(why);
                conn = None;
            }
            Outcome::Reset => {
                if was_fresh {
                    fates.fresh_resets.push(SystemTime::now());
                } else {
                    fates.reset += 1;
                }
                conn = None;
            }
        }
    }
    fates
}

#[test]
fn full_rate_load_through_sigterm_loses_nothing() {
    let child = Child::example(
        "axum_service",
        &[
            ("ANNOUNCE_MS", &ANNOUNCE_MS.to_string()),
            ("DRAIN_TIMEOUT_MS", "3000"),
            ("SLOW_MS", "100"),
            // The server's own lines (one at the listener's close), not the
            // example's per-request ones.
            ("RUST_LOG", "warn,winddown=info"),
            // Plain lines: the timestamp is the first word.
            ("NO_COLOR", "1"),
        ],
    );
    let line = child.expect_line("listening on ", Duration::from_secs(20));
    let addr = line.rsplit(' ').next().unwrap().to_owned();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let signalled_at = Arc::new(std::sync::Mutex::new(None));
    let exited = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs(20);
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            rt.spawn(worker(
                addr.clone(),
                signalled_at.clone(),
                exited.clone(),
                served.clone(),
                stop_at,
            ))
        })
        .collect();

    // The load is running at full rate: every connection has been served.
    let running_by = Instant::now() + Duration::from_secs(20);
    while served.load(Ordering::SeqCst) < LOAD_BEFORE_SIGNAL {
        assert!(
            Instant::now() < running_by,
            "the load did not get going: {} responses",
            served.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    *signalled_at.lock().unwrap() = Some(Instant::now());
    child.signal("TERM");
    let status = child.wait(Duration::from_secs(20));
    exited.store(true, Ordering::SeqCst);

    let mut total = Fates::default();
    rt.block_on(async {
        for w in workers {
            total.add(&w.await.unwrap());
        }
    });
    // Resets of connections that never had a response: allowed only from
    // the moment the server began closing its listener (its log line's
    // timestamp, taken before the close, so earlier than any reset the
    // close causes); any earlier one is a failure.
    let closing = child
        .stdout_lines()
        .into_iter()
        .find(|line| line.contains("closing the listener"))
        .expect("the server logs the listener's close");
    let timestamp = closing.split_whitespace().next().unwrap_or_default();
    let closing_at = humantime::parse_rfc3339(timestamp)
        .unwrap_or_else(|e| panic!("a timestamp at the start of {closing:?}: {e}"));
    let reset_at_close = total
        .fresh_resets
        .iter()
        .filter(|&&at| at >= closing_at)
        .count();
    total.reset += (total.fresh_resets.len() - reset_at_close) as u64;
    eprintln!(
        "load through SIGTERM: {} ok ({} with Connection: close), {} × 503 after announcing, \
         {} refused (or reset at connect) after the listener closed, {} reset by the listener's close \
         before any response; failures: {} early 503, {} reset, {} lost, {} truncated, other {:?}",
        total.ok,
        total.ok_closed,
        total.rejected_503,
        total.refused,
        reset_at_close,
        total.early_503,
        total.reset,
        total.lost,
        total.truncated,
        total.other
    );
    assert_eq!(status.code(), Some(0));
    assert!(total.ok > 100, "the load ran: {total:?}");
    assert!(
        total.ok_closed > 0,
        "keep-alive clients were told to close while announcing"
    );
    assert!(total.rejected_503 > 0, "late requests got 503: {total:?}");
    assert_eq!(total.early_503, 0, "no 503 while announcing");
    assert_eq!(total.reset, 0, "no connection resets");
    assert_eq!(total.lost, 0, "no request lost on a closing connection");
    assert_eq!(total.truncated, 0, "no truncated response");
    assert!(total.other.is_empty(), "{:?}", total.other);
}

/// Deadline during drain: an endless event stream ends cleanly with a
/// `retry:` hint when draining starts, while a slow request still open when
/// the drain timeout passes is cut, counted as abandoned, and the process
/// exits on time.
#[test]
fn the_drain_timeout_cuts_what_is_still_open_and_exits_on_time() {
    use std::io::{Read, Write};

    let child = Child::example(
        "axum_service",
        &[
            ("ANNOUNCE_MS", "0"),
            ("DRAIN_TIMEOUT_MS", "1000"),
            ("SLOW_MS", "60000"),
        ],
    );
    let line = child.expect_line("listening on ", Duration::from_secs(20));
    let addr = line.rsplit(' ').next().unwrap().to_owned();
    let open = |path: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        s
    };
    let mut events = open("/events");
    let mut slow = open("/slow");
    // The stream is flowing before the signal.
    let mut first = [0u8; 512];
    let n = events.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).contains("200 OK"));
    child.expect_line("slow request started", Duration::from_secs(10));

    let sent = Instant::now();
    child.signal("TERM");
    // The event stream ends at drain start: its last event, then the
    // terminating chunk; the connection stays open (keep-alive), so read
    // until the terminating chunk.
    let mut rest = Vec::new();
    while !rest.ends_with(b"0\r\n\r\n") {
        let mut buf = [0u8; 4096];
        let n = events.read(&mut buf).expect("the stream is not cut");
        assert!(n > 0, "the stream ended without its terminating chunk");
        rest.extend_from_slice(&buf[..n]);
    }
    let stream_ended_after = sent.elapsed();
    let mut slow_response = String::new();
    let _ = slow.read_to_string(&mut slow_response);
    let status = child.wait(Duration::from_secs(20));
    let exit_after = child.exited_at().unwrap() - sent;
    eprintln!(
        "drain timeout 1s: event stream ended cleanly after {stream_ended_after:?}, slow request: {:?}, exit after {exit_after:?}",
        slow_response.lines().next()
    );
    assert!(
        String::from_utf8_lossy(&rest).contains("retry: 5000\n\n"),
        "a last event with a reconnection hint: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(
        stream_ended_after < Duration::from_millis(900),
        "the stream ended at drain start, not at the drain timeout: {stream_ended_after:?}"
    );
    assert!(
        slow_response.starts_with("HTTP/1.1 503"),
        "a handler still running at the drain deadline is answered 503: {slow_response:?}"
    );
    assert!(
        exit_after < Duration::from_secs(4),
        "exit on time: {exit_after:?}"
    );
    assert_eq!(
        status.code(),
        Some(0),
        "abandoning cut work is not a failure"
    );
    let out = child.stdout_lines().join("\n");
    assert!(out.contains("drain        1.0"), "{out}");
    assert!(out.contains("1 abandoned"), "{out}");
}

/// Exempt-path bypass attempts against the real process while it drains:
/// only the exact probe paths are served; every look-alike gets 503.
#[test]
fn exempt_path_lookalikes_are_refused_while_draining() {
    use std::io::{Read, Write};

    let child = Child::example(
        "axum_service",
        &[
            ("ANNOUNCE_MS", "0"),
            ("DRAIN_TIMEOUT_MS", "10000"),
            ("SLOW_MS", "3000"),
        ],
    );
    let line = child.expect_line("listening on ", Duration::from_secs(20));
    let addr = line.rsplit(' ').next().unwrap().to_owned();
    let send = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    // A slow request keeps the service draining while we probe.
    let slow = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            write!(
                s,
                "GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        })
    };
    child.expect_line("slow request started", Duration::from_secs(10));
    child.signal("TERM");
    child.expect_line("state: draining", Duration::from_secs(5));

    // Served by the probes themselves: liveness 200, readiness its own 503
    // (not the drain layer's, which carries Retry-After).
    for (exact, status) in [
        ("/healthz", 200),
        ("/healthz?verbose=1", 200),
        ("/readyz", 503),
    ] {
        let r = send(exact);
        assert!(r.starts_with(&format!("HTTP/1.1 {status}")), "{exact}: {r}");
        assert!(
            !r.to_ascii_lowercase().contains("retry-after"),
            "{exact} is exempt: {r}"
        );
    }
    for tricky in [
        "/healthz/",
        "/HEALTHZ",
        "/Healthz",
        "/healthz%2F",
        "/%68ealthz",
        "/healthz%00",
        "/./healthz",
        "/healthz/.",
        "/x/../healthz",
        "//healthz",
        "/healthzz",
        "/healthz;a=b",
        "/readyz/../slow",
        "/healthz/../slow",
        "/",
    ] {
        let r = send(tricky);
        assert!(
            r.starts_with("HTTP/1.1 503") && r.to_ascii_lowercase().contains("retry-after"),
            "{tricky} must be refused while draining: {r}"
        );
    }
    let slow = slow.join().unwrap();
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");
    assert_eq!(child.wait(Duration::from_secs(20)).code(), Some(0));
}
