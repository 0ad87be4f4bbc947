//! The bounds on connections, over real sockets on 127.0.0.1: a connection
//! that never completes a request is closed, idle connections are closed,
//! HTTP/2 peers that stop answering pings are closed, the connection limit
//! makes room by closing idle connections (never one with a request in
//! progress), and at done every connection is gone within the close timeout
//! whatever its client does.
//!
//! Timing bounds are a setting plus an explicit margin for a loaded
//! machine; lower bounds allow for the client's clock starting before the
//! server's accept.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use winddown_server::Server;

use common::{
    Client, LARGE_LEN, PROTOS, Proto, STACKS, Stack, fetch, hold_in_cleanup, release_until_done,
    shutdown, start_with,
};

const MS: Duration = Duration::from_millis(1);
/// Slack on a loaded 2-core machine for "closed at about that time".
const MARGIN: Duration = Duration::from_millis(1500);
/// The HTTP/2 connection preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: with the preface, a complete HTTP/2 handshake.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Reads (and discards) until the server closes `stream`; how long that
/// took from `since`, or `None` if it is still open after `within`.
async fn closed_after(
    stream: &mut TcpStream,
    since: Instant,
    within: Duration,
) -> Option<Duration> {
    let read_to_end = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return,
                Ok(_) => continue,
                // Closed with bytes of ours unread: a reset, still a close.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    };
    timeout(within, read_to_end).await.ok()?;
    Some(since.elapsed())
}

/// Still open: nothing to read and no close for `period`.
async fn still_open(stream: &mut TcpStream, period: Duration) -> bool {
    let mut buf = [0u8; 1024];
    timeout(period, stream.read(&mut buf)).await.is_err()
}

#[tokio::test]
async fn a_connection_that_never_completes_its_first_request_is_closed() {
    let header_read_timeout = Duration::from_millis(400);
    let cases: [(&str, &[u8]); 4] = [
        ("nothing sent", b""),
        ("partial HTTP/1 head", b"GET / HTTP/1.1\r\nhost: x\r\n"),
        ("partial HTTP/2 preface", &PREFACE[..16]),
        ("a few bytes", b"GE"),
    ];
    for stack in STACKS {
        let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
        let server = Server::new(sd.clone()).header_read_timeout(header_read_timeout);
        let (addr, run) = start_with(stack, &sd, server).await;
        let mut opened = Vec::new();
        for (what, bytes) in cases {
            let since = Instant::now();
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(bytes).await.unwrap();
            opened.push((what, since, stream));
        }
        for (what, since, mut stream) in opened {
            let closed = closed_after(&mut stream, since, header_read_timeout + MARGIN).await;
            let closed = closed.unwrap_or_else(|| panic!("{stack:?}, {what}: still open"));
            assert!(
                closed >= header_read_timeout,
                "{stack:?}, {what}: closed only at the timeout, not after {closed:?}"
            );
        }
        // The server itself is unaffected.
        for proto in PROTOS {
            let (head, body) = fetch(proto, addr, "/").await;
            assert_eq!((head.status(), body.as_str()), (StatusCode::OK, "hello"));
        }
        sd.trigger();
        assert_eq!(run.await.unwrap().exit_code(), 0);
    }
}

/// The HTTP/2 preface completes the handshake: from there the connection
/// is held to the idle bound, not the header read bound.
#[tokio::test]
async fn a_complete_http2_preface_is_held_to_the_idle_timeout() {
    let header_read_timeout = Duration::from_millis(300);
    let idle_timeout = Duration::from_millis(1500);
    let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
    let server = Server::new(sd.clone())
        .header_read_timeout(header_read_timeout)
        .idle_timeout(idle_timeout);
    let (addr, run) = start_with(Stack::Hyper, &sd, server).await;
    let since = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(SETTINGS).await.unwrap();
    // The server's SETTINGS arrive; the connection stays open past the
    // header read timeout.
    let mut buf = [0u8; 1024];
    let n = timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server's SETTINGS")
        .unwrap();
    assert!(n >= 9, "an HTTP/2 frame");
    sleep(header_read_timeout + 200 * MS).await;
    let closed = closed_after(&mut stream, since, idle_timeout + MARGIN)
        .await
        .expect("closed at the idle timeout");
    assert!(closed >= idle_timeout, "{closed:?}");
    sd.trigger();
    run.await.unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed_at_the_idle_timeout_but_streams_are_not() {
    let idle_timeout = Duration::from_millis(400);
    for stack in STACKS {
        for proto in PROTOS {
            let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
            let server = Server::new(sd.clone()).idle_timeout(idle_timeout);
            let (addr, run) = start_with(stack, &sd, server).await;

            // A response streaming for longer than the idle timeout
            // (8 chunks, 150 ms apart) is in progress: it is not idle.
            let mut client = Client::connect(proto, addr).await;
            let response = client.get("/stream").await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let expected: String = (0..common::STREAM_CHUNKS)
                .map(|i| format!("chunk {i}\n"))
                .collect();
            assert_eq!(
                body, expected,
                "{stack:?} {proto:?}: the stream ran to its end"
            );

            // Then idle: closed at the idle timeout.
            let idle_from = Instant::now();
            let closed = timeout(idle_timeout + MARGIN, &mut client.conn).await;
            let after = idle_from.elapsed();
            assert!(
                closed.is_ok(),
                "{stack:?} {proto:?}: still open after {after:?}"
            );
            assert!(
                after + 50 * MS >= idle_timeout,
                "{stack:?} {proto:?}: closed early, after {after:?}"
            );
            if proto == Proto::Http2 {
                assert!(
                    closed.unwrap().unwrap().is_ok(),
                    "a graceful HTTP/2 close (GOAWAY)"
                );
            }
            sd.trigger();
            run.await.unwrap();
        }
    }
}

/// After a first request, a keep-alive connection that sends its next
/// request head a byte at a time (slowloris) is held to the idle timeout:
/// the head's bytes do not count as activity, only requests do.
#[tokio::test]
async fn a_next_request_head_sent_a_byte_at_a_time_is_closed_at_the_idle_timeout() {
    let idle_timeout = Duration::from_millis(500);
    let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
    let server = Server::new(sd.clone()).idle_timeout(idle_timeout);
    let (addr, run) = start_with(Stack::Axum, &sd, server).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the first response")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let idle_from = Instant::now();
    let (mut read, mut write) = stream.into_split();
    // A byte every 50 ms: the head never ends within the bound.
    let trickle = tokio::spawn(async move {
        for byte in b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: ".iter().cycle() {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            sleep(50 * MS).await;
        }
    });
    let closed = timeout(idle_timeout + MARGIN, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    let after = idle_from.elapsed();
    assert!(closed.is_ok(), "still open after {after:?}");
    assert!(
        after + 50 * MS >= idle_timeout,
        "closed early, after {after:?}"
    );
    trickle.abort();
    sd.trigger();
    run.await.unwrap();
}

/// An HTTP/2 peer that stops answering (here: never reads, so never acks
/// a PING) is closed after the keep-alive interval and timeout; one that
/// answers stays.
#[tokio::test]
async fn http2_keep_alive_closes_a_peer_that_stopped_answering() {
    let interval = Duration::from_millis(300);
    let ping_timeout = Duration::from_millis(300);
    let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
    let server = Server::new(sd.clone())
        .idle_timeout(None)
        .http2_keep_alive_interval(interval)
        .http2_keep_alive_timeout(ping_timeout);
    let (addr, run) = start_with(Stack::Axum, &sd, server).await;

    let mut healthy = Client::connect(Proto::Http2, addr).await;
    let response = healthy.get("/").await.unwrap();
    response.into_body().collect().await.unwrap();

    let since = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    silent.write_all(PREFACE).await.unwrap();
    silent.write_all(SETTINGS).await.unwrap();
    // Not read until now: the PING is never answered.
    sleep(interval + ping_timeout).await;
    let closed = closed_after(&mut silent, since, MARGIN + MARGIN)
        .await
        .expect("closed after an unanswered PING");
    assert!(closed >= interval + ping_timeout, "{closed:?}");

    // The peer that answers its PINGs is still connected.
    assert!(!healthy.conn.is_finished());
    let response = healthy.get("/").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    sd.trigger();
    run.await.unwrap();
}

/// At the limit, the connection idle the longest is closed to make room, so
/// that a probe still gets in when idle sockets pile up.
#[tokio::test]
async fn at_the_connection_limit_the_longest_idle_connection_makes_room() {
    for stack in STACKS {
        let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
        let server = Server::new(sd.clone()).max_connections(3);
        let (addr, run) = start_with(stack, &sd, server).await;
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(TcpStream::connect(addr).await.unwrap());
            // In accept order, so that "the oldest" is known.
            sleep(20 * MS).await;
        }
        // Two probes, kept connected: each needs room.
        let mut probes = Vec::new();
        for proto in PROTOS {
            let mut probe = Client::connect(proto, addr).await;
            let response = timeout(Duration::from_secs(5), probe.get("/healthz"))
                .await
                .unwrap_or_else(|_| panic!("{stack:?} {proto:?}: the probe got in"))
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.into_body().collect().await.unwrap();
            probes.push(probe);
        }
        // The two oldest made room; the newest is still open.
        let since = Instant::now();
        for stream in &mut idle[..2] {
            assert!(
                closed_after(stream, since, Duration::from_secs(5))
                    .await
                    .is_some(),
                "{stack:?}: the oldest idle connections were closed"
            );
        }
        assert!(still_open(&mut idle[2], 200 * MS).await, "{stack:?}");
        sd.trigger();
        run.await.unwrap();
    }
}

/// At the limit with every connection busy, a new connection waits until a
/// request finishes: a request in progress is never cut to make room.
#[tokio::test]
async fn at_the_connection_limit_requests_in_progress_are_never_cut() {
    let sd = shutdown(Duration::ZERO, Duration::from_secs(10));
    let server = Server::new(sd.clone()).max_connections(2);
    let (addr, run) = start_with(Stack::Axum, &sd, server).await;
    let slow: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let (head, body) = fetch(Proto::Http1, addr, "/slow").await;
                (head.status(), body.len(), Instant::now())
            })
        })
        .collect();
    let busy = async {
        while sd.in_flight_count() < 2 {
            sleep(5 * MS).await;
        }
    };
    timeout(Duration::from_secs(5), busy)
        .await
        .expect("both slow requests in flight");
    let (head, body) = timeout(Duration::from_secs(10), fetch(Proto::Http1, addr, "/"))
        .await
        .expect("answered once a connection is free");
    let third_at = Instant::now();
    assert_eq!((head.status(), body.as_str()), (StatusCode::OK, "hello"));
    let mut first_slow_done = None;
    for request in slow {
        let (status, len, at) = request.await.unwrap();
        assert_eq!((status, len), (StatusCode::OK, common::SLOW_LEN), "not cut");
        first_slow_done = Some(first_slow_done.map_or(at, |t: Instant| t.min(at)));
    }
    assert!(
        third_at >= first_slow_done.unwrap(),
        "the third connection was served only after a slow request ended"
    );
    sd.trigger();
    run.await.unwrap();
}

/// The close timeout bounds the close grace too: with a grace longer than
/// the timeout, an idle HTTP/1 connection is closed, and the server
/// returns, at the timeout. The server runs on its own here (not under
/// `run_until`, which drops it a second after done).
#[tokio::test]
async fn a_close_grace_longer_than_the_close_timeout_ends_with_it() {
    let close_timeout = Duration::from_millis(300);
    let grace = Duration::from_secs(5);
    let sd = shutdown(Duration::ZERO, Duration::from_secs(2));
    let release = hold_in_cleanup(&sd);
    let server = Server::new(sd.clone())
        .close_grace(grace)
        .close_timeout(close_timeout);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serve = tokio::spawn(server.serve(listener, common::axum_app(&sd)));
    let run = tokio::spawn({
        let sd = sd.clone();
        async move { sd.run().await }
    });

    // An idle keep-alive HTTP/1 connection.
    let mut client = Client::connect(Proto::Http1, addr).await;
    let response = client.get("/").await.unwrap();
    response.into_body().collect().await.unwrap();

    sd.trigger();
    let done_at = release_until_done(&sd, release).await;
    let closed = timeout(grace, &mut client.conn).await;
    let closed_after = done_at.elapsed();
    assert!(closed.is_ok(), "still open {closed_after:?} after done");
    timeout(grace, serve)
        .await
        .expect("serve returned before the end of the grace")
        .unwrap()
        .unwrap();
    let returned_after = done_at.elapsed();
    assert!(
        closed_after < close_timeout + MARGIN && returned_after < close_timeout + MARGIN,
        "close timeout {close_timeout:?}, grace {grace:?}: closed {closed_after:?} \
         and returned {returned_after:?} after done"
    );
    run.await.unwrap();
}

/// Bounded close: at done, a client that never completes its request head
/// (slowloris) and a client that stopped reading a large response are both
/// dropped at the close timeout, and the server returns on time.
#[tokio::test]
async fn at_done_slow_and_stuck_clients_are_dropped_at_the_close_timeout() {
    let close_timeout = Duration::from_millis(750);
    for stack in STACKS {
        let sd = shutdown(Duration::ZERO, Duration::from_millis(500));
        let release = hold_in_cleanup(&sd);
        let server = Server::new(sd.clone()).close_timeout(close_timeout);
        let (addr, run) = start_with(stack, &sd, server).await;

        // Slowloris: a head that never ends, one byte every 100 ms.
        let mut slowloris = TcpStream::connect(addr).await.unwrap();
        slowloris
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await
            .unwrap();
        let trickle = tokio::spawn(async move {
            loop {
                sleep(100 * MS).await;
                if slowloris.write_all(b"a").await.is_err() {
                    return;
                }
            }
        });

        // A client that asks for a large response and never reads it (with
        // a small receive buffer, whatever the system's autotuning allows).
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        let mut stuck = socket.connect(addr).await.unwrap();
        stuck
            .write_all(b"GET /large HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        // The response has started; from here the client reads nothing.
        let mut head = [0u8; 64];
        let n = timeout(Duration::from_secs(5), stuck.read(&mut head))
            .await
            .expect("the large response started")
            .unwrap();
        assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{stack:?}");

        sd.trigger();
        let done_at = release_until_done(&sd, release).await;
        let report = timeout(close_timeout + MARGIN, run)
            .await
            .unwrap_or_else(|_| panic!("{stack:?}: the server returned on time"))
            .unwrap();
        let returned_after = done_at.elapsed();
        assert!(
            returned_after + 50 * MS >= close_timeout,
            "{stack:?}: waited for the close timeout: {returned_after:?}"
        );
        assert_eq!(report.exit_code(), 0, "{stack:?}: {report}");

        // Both connections are gone: the stuck one ends before the whole
        // body (it was dropped), and the slowloris writes fail.
        let mut received = n;
        let mut buf = vec![0u8; 256 * 1024];
        let read_all = async {
            loop {
                match stuck.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received += n,
                }
            }
        };
        timeout(Duration::from_secs(10), read_all)
            .await
            .expect("the stuck connection was closed");
        assert!(received < LARGE_LEN, "{stack:?}: cut, {received} bytes");
        timeout(Duration::from_secs(5), trickle)
            .await
            .expect("the slowloris connection was closed")
            .unwrap();
    }
}
