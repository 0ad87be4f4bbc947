//! A rolling restart behind a real load balancer: three replicas of the
//! service behind HAProxy (Debian/Ubuntu package `haproxy`), which checks
//! `/readyz` every 200 ms, while a load generator sends HTTP/1.1 keep-alive
//! requests through it. Each replica is sent SIGTERM and started again on
//! the same port, twice: no client sees anything but 2xx. Once with
//! HTTP/1.1 from HAProxy to the replicas, once with h2c (`proto h2`).
#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use common::{Process, no_metrics_flush, service_command, unique_stamp};

/// The longest any single wait here may take.
const BOUND: Duration = Duration::from_secs(20);
const REPLICAS: usize = 3;
const ROUNDS: usize = 2;
/// Concurrent keep-alive clients of the load generator.
const CLIENTS: usize = 4;
/// The most requests one client sends in a pass, whatever happens.
const MAX_PER_CLIENT: usize = 20_000;

/// This service's program, the replica of the tests that assert.
const SERVICE: &str = env!("CARGO_BIN_EXE_{{project-name}}");

/// Starts a replica of `program` on `addr` (port 0 the first time) and
/// waits until it listens; the replica and the address it got.
fn start_replica(program: &str, name: &str, addr: SocketAddr) -> (Process, SocketAddr) {
    let mut command = service_command(program);
    no_metrics_flush(&mut command)
        .env("APP__SERVER__ADDR", addr.to_string())
        .env("APP__SHUTDOWN__ANNOUNCE_DELAY", "1s");
    let replica = Process::start(name, command);
    let line = replica.line_after("listening on ", 0);
    let got = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (replica, got)
}

/// One request through HAProxy on a new connection: its status and the
/// value of the `x-test-run` header.
fn probe(addr: SocketAddr) -> std::io::Result<(u16, Option<String>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {raw:?}")))?;
    let run = raw.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("x-test-run:")
            .map(|v| v.trim().to_owned())
    });
    Ok((status, run))
}

/// HAProxy in the foreground with its configuration in `dir`, in front of
/// `replicas`, with `server_options` on every server line. HAProxy takes
/// no port 0: ports below the kernel's ephemeral range are tried, moving
/// on when one is taken (HAProxy cannot bind it and exits). Returns it
/// once it answers with this run's header.
fn start_haproxy(
    dir: &std::path::Path,
    replicas: &[SocketAddr],
    server_options: &str,
) -> (Process, SocketAddr) {
    let run = unique_stamp();
    let seed = run
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let servers: String = replicas
        .iter()
        .enumerate()
        .map(|(i, addr)| format!("    server r{i} {addr} check inter 200ms {server_options}\n"))
        .collect();
    for attempt in 0..20u64 {
        let port = 20_000 + seed.wrapping_add(attempt * 7919) % 12_000;
        let addr: SocketAddr = ([127, 0, 0, 1], port as u16).into();
        // noreuseport: the bind fails if anything holds the port, instead
        // of sharing it.
        let config = format!(
            "global
    maxconn 1024
    noreuseport
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend clients
    bind {addr}
    http-response set-header x-test-run {run}
    http-response set-header x-test-replica-version %[res.ver]
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /readyz
{servers}"
        );
        let path = dir.join(format!("haproxy-{attempt}.cfg"));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .expect("the HAProxy configuration is written");
        let mut command = Command::new(haproxy_program().expect("haproxy was found before"));
        command.arg("-db").arg("-f").arg(&path);
        let haproxy = Process::start("haproxy", command);
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = haproxy.exit_status() {
                let lines = haproxy.lines().join("\n");
                assert!(
                    lines.contains("cannot bind socket"),
                    "haproxy exited ({status}):\n{lines}\n{config}"
                );
                break;
            }
            if let Ok((200, Some(seen))) = probe(addr)
                && seen == run
            {
                return (haproxy, addr);
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not answer on {addr}:\n{}",
                haproxy.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("no free port for HAProxy after 20 attempts")
}

/// The HAProxy executable: on PATH, or in the sbin directories a user's
/// PATH may lack.
fn haproxy_program() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("haproxy"))
        .find(|program| program.is_file())
}

/// What the load generator saw.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    /// Answers that were not 2xx: their statuses.
    non_2xx: Mutex<Vec<String>>,
    /// Requests with no complete answer: why.
    errors: Mutex<Vec<String>>,
    /// The HTTP versions the replicas answered HAProxy with, and how often.
    versions: Mutex<BTreeMap<String, usize>>,
}

/// `CLIENTS` keep-alive HTTP/1.1 clients sending `GET /` to `addr` until
/// `stop` (each at most `MAX_PER_CLIENT` times), on a runtime of their own.
fn load(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build_http();
            let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
            let tasks: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let (client, uri, stop, tally) =
                        (client.clone(), uri.clone(), stop.clone(), tally.clone());
                    tokio::spawn(async move {
                        for _ in 0..MAX_PER_CLIENT {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            let request = async {
                                let response = client.get(uri.clone()).await?;
                                let status = response.status();
                                let version = response
                                    .headers()
                                    .get("x-test-replica-version")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("none")
                                    .to_owned();
                                *tally.versions.lock().unwrap().entry(version).or_default() += 1;
                                response.into_body().collect().await?;
                                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(status)
                            };
                            match tokio::time::timeout(BOUND, request).await {
                                Ok(Ok(status)) if status.is_success() => {
                                    tally.ok.fetch_add(1, Ordering::Relaxed);
                                }
                                Ok(Ok(status)) => tally
                                    .non_2xx
                                    .lock()
                                    .unwrap()
                                    .push(format!("status {status}")),
                                Ok(Err(error)) => tally
                                    .errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("error: {error:?}")),
                                Err(_) => tally
                                    .errors
                                    .lock()
                                    .unwrap()
                                    .push(format!("no answer within {BOUND:?}")),
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("a load task");
            }
        });
    })
}

/// What one pass saw.
struct Outcome {
    restarts: usize,
    ok: usize,
    non_2xx: Vec<String>,
    errors: Vec<String>,
    versions: BTreeMap<String, usize>,
}

/// One pass: replicas, HAProxy in front, load, `ROUNDS` rolling restarts.
fn rolling_restart(program: &str, server_options: &str) -> Outcome {
    let dir = tempfile::tempdir().expect("a private temporary directory");
    let mut replicas = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..REPLICAS {
        let (replica, addr) = start_replica(program, &format!("r{i}"), ([127, 0, 0, 1], 0).into());
        replicas.push(replica);
        addrs.push(addr);
    }
    let (haproxy, front) = start_haproxy(dir.path(), &addrs, server_options);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let generator = load(front, stop.clone(), tally.clone());
    let more_served = |at_least: usize| {
        let target = tally.ok.load(Ordering::Relaxed) + at_least;
        let deadline = Instant::now() + BOUND;
        while tally.ok.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "the load generator got no answers: {:?} {:?}",
                tally.non_2xx.lock().unwrap(),
                tally.errors.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    let mut restarts = 0;
    for _ in 0..ROUNDS {
        for i in 0..REPLICAS {
            more_served(50);
            let down = format!("Server replicas/r{i} is DOWN");
            let up = format!("Server replicas/r{i} is UP");
            let (downs, ups) = (haproxy.count(&down), haproxy.count(&up));
            replicas[i].signal("TERM");
            // HAProxy's check sees /readyz fail while the replica still
            // serves (the announce delay).
            haproxy.line_after(&down, downs);
            let code = replicas[i].wait();
            assert_eq!(code, 0, "r{i} exits 0:\n{}", replicas[i].lines().join("\n"));
            let (replica, addr) = start_replica(program, &format!("r{i}"), addrs[i]);
            assert_eq!(addr, addrs[i], "r{i} listens on the same address again");
            replicas[i] = replica;
            haproxy.line_after(&up, ups);
            restarts += 1;
        }
    }
    more_served(50);
    stop.store(true, Ordering::Relaxed);
    generator.join().expect("the load generator");

    haproxy.signal("TERM");
    haproxy.wait();
    for replica in &replicas {
        replica.signal("TERM");
        assert_eq!(replica.wait(), 0, "{}", replica.lines().join("\n"));
    }
    Outcome {
        restarts,
        ok: tally.ok.load(Ordering::Relaxed),
        non_2xx: tally.non_2xx.lock().unwrap().clone(),
        errors: tally.errors.lock().unwrap().clone(),
        versions: tally.versions.lock().unwrap().clone(),
    }
}

#[test]
fn rolling_restarts_behind_haproxy_lose_nothing() {
    if haproxy_program().is_none() {
        println!("skipped: haproxy is not installed (Debian/Ubuntu package haproxy)");
        return;
    }
    for (pass, options, version) in [("HTTP/1.1", "", "1.1"), ("h2c", "proto h2", "2.0")] {
        let outcome = rolling_restart(SERVICE, options);
        println!(
            "HAProxy to {REPLICAS} replicas over {pass}: {} restarts under load, {} answered 2xx, {} non-2xx, {} errors (replica answers by HTTP version: {:?})",
            outcome.restarts,
            outcome.ok,
            outcome.non_2xx.len(),
            outcome.errors.len(),
            outcome.versions
        );
        let first = |v: &[String]| v[..v.len().min(10)].to_vec();
        assert!(
            outcome.non_2xx.is_empty() && outcome.errors.is_empty(),
            "over {pass}: non-2xx {:?}, errors {:?} (at most 10 of each)",
            first(&outcome.non_2xx),
            first(&outcome.errors)
        );
        // Every answer came from a replica, over the protocol of the pass.
        assert_eq!(
            outcome.versions.keys().collect::<Vec<_>>(),
            [version],
            "over {pass}"
        );
    }
}

/// The same harness against a bare axum service (axum's own
/// `with_graceful_shutdown`, no announce), for comparison: run by hand with
/// `BARE_AXUM_REPLICA=<winddown checkout>/target/debug/examples/bare_axum_replica
/// cargo test --test haproxy -- --ignored --nocapture`. It reports, it does
/// not assert: a bare service is expected to lose requests here.
#[test]
#[ignore = "a baseline run by hand: needs BARE_AXUM_REPLICA"]
fn bare_axum_behind_the_same_harness() {
    let (Some(_), Some(baseline)) = (haproxy_program(), std::env::var("BARE_AXUM_REPLICA").ok()) else {
        println!("skipped: needs haproxy and BARE_AXUM_REPLICA");
        return;
    };
    for (pass, options) in [("HTTP/1.1", ""), ("h2c", "proto h2")] {
        let outcome = rolling_restart(&baseline, options);
        println!(
            "bare axum behind HAProxy over {pass}: {} restarts under load, {} answered 2xx, {} non-2xx, {} errors",
            outcome.restarts,
            outcome.ok,
            outcome.non_2xx.len(),
            outcome.errors.len(),
        );
    }
}
