//! The server and the layer over real sockets on 127.0.0.1, with HTTP/1.1
//! and HTTP/2 clients, under axum and under plain hyper.

mod common;

use std::future::Future;
use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use winddown_core::State;
use winddown_server::Server;

use common::{
    Client, PROTOS, Proto, STACKS, STREAM_CHUNKS, Stack, fetch, hold_in_cleanup, raw, raw_status,
    read_all, release_until_done, shutdown, slow_byte, start, start_with,
};

const MS: Duration = Duration::from_millis(1);

/// Runs `case` for every combination at once, each with its own server.
async fn each<F, Fut>(combos: Vec<(Stack, Proto)>, case: F)
where
    F: Fn(Stack, Proto) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runs: Vec<_> = combos
        .into_iter()
        .map(|(stack, proto)| (stack, proto, tokio::spawn(case(stack, proto))))
        .collect();
    for (stack, proto, run) in runs {
        if let Err(error) = timeout(Duration::from_secs(20), run)
            .await
            .expect("bounded")
        {
            panic!("{stack:?} over {proto:?}: {error}");
        }
    }
}

fn all() -> Vec<(Stack, Proto)> {
    STACKS
        .iter()
        .flat_map(|s| PROTOS.iter().map(move |p| (*s, *p)))
        .collect()
}

fn stacks_over(proto: Proto) -> Vec<(Stack, Proto)> {
    STACKS.iter().map(|s| (*s, proto)).collect()
}

#[tokio::test]
async fn readiness_flips_at_the_trigger() {
    each(all(), |stack, proto| async move {
        let sd = shutdown(Duration::from_secs(2), Duration::from_secs(5));
        let (addr, run) = start(stack, &sd).await;

        let (head, body) = fetch(proto, addr, "/readyz").await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(body, "ready\n");

        sd.trigger();
        let (head, body) = fetch(proto, addr, "/readyz").await;
        assert_eq!(head.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: shutting down (announcing)\n");
        let (head, body) = fetch(proto, addr, "/healthz").await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(body, "alive (announcing)\n");
        // Traffic is still served while announcing.
        let (head, body) = fetch(proto, addr, "/").await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(body, "hello");
        assert_eq!(sd.state(), State::Announcing);

        let report = run.await.unwrap();
        assert_eq!(report.exit_code(), 0);
    })
    .await;
}

#[tokio::test]
async fn keep_alive_connections_get_connection_close_while_announcing() {
    each(all(), |stack, proto| async move {
        let sd = shutdown(Duration::from_secs(2), Duration::from_secs(5));
        let (addr, run) = start(stack, &sd).await;
        let mut client = Client::connect(proto, addr).await;
        for _ in 0..2 {
            let response = client.get("/").await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert!(response.headers().get("connection").is_none());
            response.into_body().collect().await.unwrap();
        }

        sd.trigger();
        let response = client.get("/").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        match proto {
            Proto::Http1 => {
                assert_eq!(response.headers()["connection"], "close");
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, "hello");
                // hyper closes the connection after that response.
                let closed = timeout(Duration::from_secs(1), &mut client.conn).await;
                assert!(
                    closed.is_ok(),
                    "the server closed the keep-alive connection"
                );
                assert_eq!(sd.state(), State::Announcing);
            }
            Proto::Http2 => {
                assert!(
                    response.headers().get("connection").is_none(),
                    "never on HTTP/2"
                );
                response.into_body().collect().await.unwrap();
                // The HTTP/2 analog: a graceful GOAWAY at the trigger; the
                // connection closes once its last stream has ended (see
                // tests/http2_goaway.rs for the frames).
                let closed = timeout(Duration::from_secs(1), &mut client.conn).await;
                assert!(closed.is_ok(), "the server closed the HTTP/2 connection");
                assert_eq!(sd.state(), State::Announcing);
            }
        }
        run.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn after_announcing_new_requests_get_503_and_exempt_paths_200() {
    each(all(), |stack, proto| async move {
        let sd = shutdown(Duration::from_millis(100), Duration::from_secs(5));
        let (addr, run) = start(stack, &sd).await;
        // Other work in flight keeps the service draining while we look.
        let other_work = sd.in_flight_guard();
        sd.trigger();
        sd.draining().await;

        let (head, body) = fetch(proto, addr, "/").await;
        assert_eq!(head.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(head.headers()["retry-after"], "5");
        assert_eq!(head.headers()["content-type"], "text/plain; charset=utf-8");
        assert!(body.contains("shutting down"), "{body}");
        match proto {
            Proto::Http1 => assert_eq!(head.headers()["connection"], "close"),
            Proto::Http2 => assert!(head.headers().get("connection").is_none()),
        }

        let (head, body) = fetch(proto, addr, "/healthz").await;
        assert_eq!(
            (head.status(), body.as_str()),
            (StatusCode::OK, "alive (draining)\n")
        );
        let (head, body) = fetch(proto, addr, "/metrics").await;
        assert_eq!(
            (head.status(), body.as_str()),
            (StatusCode::OK, "metrics\n")
        );
        // /readyz is served (by the probe, which says not ready).
        let (head, body) = fetch(proto, addr, "/readyz").await;
        assert_eq!(head.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "not ready: shutting down (draining)\n");

        drop(other_work);
        let report = run.await.unwrap();
        assert!(report.drained);
        assert_eq!(report.exit_code(), 0);
    })
    .await;
}

#[tokio::test]
async fn slow_in_flight_requests_complete_with_their_full_body() {
    each(all(), |stack, proto| async move {
        let sd = shutdown(Duration::from_millis(100), Duration::from_secs(5));
        let (addr, run) = start(stack, &sd).await;
        let mut client = Client::connect(proto, addr).await;
        let request = tokio::spawn(async move {
            let response = client.get("/slow").await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        });
        let in_flight = async {
            while sd.in_flight_count() == 0 {
                sleep(5 * MS).await;
            }
        };
        timeout(Duration::from_secs(2), in_flight)
            .await
            .expect("the request is in flight");
        sleep(100 * MS).await;
        assert_eq!(sd.in_flight_count(), 1);
        sd.trigger();

        let report = run.await.unwrap();
        let (status, body) = request.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.len(), common::SLOW_LEN);
        assert!(body.iter().enumerate().all(|(i, b)| *b == slow_byte(i)));
        assert!(report.drained);
        assert_eq!(report.abandoned, 0);
        assert!(
            report.drain >= 400 * MS,
            "the drain waited: {:?}",
            report.drain
        );
        assert_eq!(report.exit_code(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_streaming_response_keeps_the_drain_open_until_its_body_ends() {
    each(all(), |stack, proto| async move {
        let sd = shutdown(Duration::ZERO, Duration::from_secs(10));
        let (addr, run) = start(stack, &sd).await;
        let mut client = Client::connect(proto, addr).await;
        let response = client.get("/stream").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The handler has returned; only the body is left.
        sd.trigger();
        let mut body = response.into_body();
        let mut text = String::new();
        let mut chunks = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            text.push_str(std::str::from_utf8(&data).unwrap());
            chunks += 1;
            if chunks == 2 {
                assert_eq!(sd.state(), State::Draining, "the body holds the drain open");
                assert_eq!(sd.in_flight_count(), 1);
            }
        }
        let expected: String = (0..STREAM_CHUNKS).map(|i| format!("chunk {i}\n")).collect();
        assert_eq!(text, expected);

        let report = run.await.unwrap();
        assert!(report.drained);
        assert_eq!(report.abandoned, 0);
        assert!(
            report.drain >= 600 * MS,
            "drained only after the body: {:?}",
            report.drain
        );
        assert_eq!(report.exit_code(), 0);
    })
    .await;
}

#[tokio::test]
async fn an_endless_event_stream_is_cut_at_the_drain_deadline() {
    each(all(), |stack, proto| async move {
        let announce = Duration::from_millis(200);
        let drain_timeout = Duration::from_secs(1);
        let sd = shutdown(announce, drain_timeout);
        let (addr, run) = start(stack, &sd).await;
        let mut client = Client::connect(proto, addr).await;
        let response = client.get("/sse").await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(first.starts_with(b"data: tick"));

        let start = Instant::now();
        sd.trigger();
        let outcome = loop {
            match body.frame().await {
                Some(Ok(_)) => continue,
                Some(Err(error)) => break Err(error),
                None => break Ok(()),
            }
        };
        let cut_after = start.elapsed();
        assert!(outcome.is_err(), "the stream is cut, not ended cleanly");
        assert!(
            cut_after >= announce + drain_timeout - 50 * MS
                && cut_after < announce + drain_timeout + 800 * MS,
            "cut at the drain deadline: {cut_after:?}"
        );

        let report = run.await.unwrap();
        let exited_after = start.elapsed();
        assert!(!report.drained);
        assert_eq!(report.abandoned, 1, "{report}");
        assert_eq!(report.exit_code(), 0, "{report}");
        assert!(
            exited_after < announce + drain_timeout + Duration::from_secs(2),
            "{exited_after:?}"
        );
    })
    .await;
}

/// Exact paths only: any other spelling is refused while draining, over the
/// wire, whatever the router might make of it.
#[tokio::test]
async fn exempt_paths_cannot_be_bypassed_over_the_wire() {
    let cases: &[(&str, bool)] = &[
        ("/healthz", true),
        ("/metrics", true),
        ("/healthz?x=1", true),
        ("/metrics?format=text", true),
        ("http://127.0.0.1/healthz", true),
        ("/healthz/", false),
        ("/HEALTHZ", false),
        ("/healthz%2F", false),
        ("/%68ealthz", false),
        ("/./healthz", false),
        ("/foo/../healthz", false),
        ("/healthz/.", false),
        ("/%2e/healthz", false),
        ("//healthz", false),
        ("/healthzz", false),
        ("/healthz;x", false),
        ("/metrics/", false),
        ("/metrics%20", false),
        ("/", false),
    ];
    each(stacks_over(Proto::Http1), |stack, _| async move {
        let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
        let (addr, run) = start(stack, &sd).await;
        let other_work = sd.in_flight_guard();
        sd.trigger();
        sd.draining().await;
        for &(path, exempt) in cases {
            let response = raw(addr, &format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n")).await;
            let status = raw_status(&response);
            if exempt {
                assert_eq!(status, 200, "{path} is exempt: {response}");
            } else {
                assert_eq!(status, 503, "{path} is not exempt: {response}");
                assert!(
                    response.contains("shutting down"),
                    "{path}: refused by the layer"
                );
            }
        }
        drop(other_work);
        run.await.unwrap();
    })
    .await;
}

/// The listener stays open until done (503 for the rest, exempt routes
/// served while the hooks run), then closes; HTTP/2 got its GOAWAY at the
/// trigger, idle HTTP/1 connections are closed at done, and the server
/// returns promptly.
#[tokio::test]
async fn the_listener_stays_open_until_done_then_everything_closes() {
    each(stacks_over(Proto::Http1), |stack, _| async move {
        let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
        let release = hold_in_cleanup(&sd);
        let (addr, run) = start(stack, &sd).await;
        let mut h1 = Client::connect(Proto::Http1, addr).await;
        let mut h2 = Client::connect(Proto::Http2, addr).await;
        for client in [&mut h1, &mut h2] {
            let response = client.get("/").await.unwrap();
            response.into_body().collect().await.unwrap();
        }

        sd.trigger();
        // HTTP/2: a graceful GOAWAY at the trigger, then the idle
        // connection closes.
        let h2_closed = timeout(Duration::from_secs(2), &mut h2.conn).await;
        assert!(h2_closed.is_ok(), "HTTP/2 connection closed by GOAWAY");
        assert!(
            h2_closed.unwrap().unwrap().is_ok(),
            "a graceful HTTP/2 close"
        );
        assert_ne!(sd.state(), State::Done);
        sd.cleanup_started().await;
        let (head, _) = fetch(Proto::Http1, addr, "/metrics").await;
        assert_eq!(
            head.status(),
            StatusCode::OK,
            "exempt routes served during cleanup"
        );
        let (head, _) = fetch(Proto::Http2, addr, "/").await;
        assert_eq!(
            head.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "new connections get a 503"
        );
        assert!(!h1.conn.is_finished());

        let done_at = Instant::now();
        release.send(()).unwrap();
        let h1_closed = timeout(Duration::from_secs(2), &mut h1.conn).await;
        assert!(h1_closed.is_ok(), "idle HTTP/1 connection closed");
        let report = run.await.unwrap();
        assert!(
            done_at.elapsed() < Duration::from_millis(1500),
            "{:?}",
            done_at.elapsed()
        );
        assert_eq!(report.exit_code(), 0);
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener is closed"
        );
    })
    .await;
}

/// The lost-request race: a request written on an idle keep-alive
/// connection just as the server reaches done is answered, not dropped.
#[tokio::test]
async fn a_request_sent_at_done_on_an_idle_connection_is_answered() {
    each(stacks_over(Proto::Http1), |stack, _| async move {
        let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
        let release = hold_in_cleanup(&sd);
        let (addr, run) = start(stack, &sd).await;

        // A keep-alive connection that has served one request and is idle.
        let mut used = TcpStream::connect(addr).await.unwrap();
        used.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        while !seen.ends_with(b"hello") {
            let mut buf = [0; 1024];
            let n = timeout(Duration::from_secs(5), used.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        // A connection that has not sent anything yet.
        let mut fresh = TcpStream::connect(addr).await.unwrap();

        sd.trigger();
        release_until_done(&sd, release).await;
        for stream in [&mut used, &mut fresh] {
            stream
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
        }
        for stream in [&mut used, &mut fresh] {
            let response = read_all(stream).await;
            assert!(
                !response.is_empty(),
                "the request was answered, not dropped"
            );
            assert_eq!(raw_status(&response), 503, "{response}");
            assert!(response.to_ascii_lowercase().contains("connection: close"));
        }
        run.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_listener_can_close_when_draining_starts() {
    let sd = shutdown(Duration::ZERO, Duration::from_secs(5));
    let server = Server::new(sd.clone()).stop_accepting_at(State::Draining);
    let (addr, run) = start_with(Stack::Axum, &sd, server).await;
    // HTTP/1 keep-alive connections: HTTP/2 ones get GOAWAY at the trigger.
    let mut first = Client::connect(Proto::Http1, addr).await;
    let mut second = Client::connect(Proto::Http1, addr).await;
    let other_work = sd.in_flight_guard();
    sd.trigger();
    sd.draining().await;
    // The accept loop may need a moment to see the state.
    let refused = async {
        while TcpStream::connect(addr).await.is_ok() {
            sleep(10 * MS).await;
        }
    };
    timeout(Duration::from_secs(2), refused)
        .await
        .expect("connections refused");
    // Open connections are still served until done.
    let response = first.get("/healthz").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = second.get("/").await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(other_work);
    run.await.unwrap();
}
