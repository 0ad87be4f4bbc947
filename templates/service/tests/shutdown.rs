//! Starts the built service, sends it a real SIGTERM during a slow request,
//! and checks what clients and Prometheus see: readiness fails at once,
//! traffic is served while announcing, then refused with 503, the slow
//! request completes, the process exits 0, and the per-step timings come out.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Process, service_command};

/// An HTTP/1.1 response.
#[derive(Debug)]
struct Response {
    status: u16,
    /// Header lines, lowercased.
    headers: Vec<String>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&prefix))
            .map(str::trim)
    }
}

/// One request on a fresh keep-alive connection (the client does not ask
/// to close: a `Connection: close` in the answer comes from the server).
fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let mut response = Response {
        status,
        headers,
        body: String::new(),
    };
    if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(std::io::Error::other)?;
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        response.body = String::from_utf8_lossy(&body).into_owned();
    } else if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            response.body += &String::from_utf8_lossy(&chunk[..size]);
        }
    } else {
        reader.read_to_string(&mut response.body)?;
    }
    Ok(response)
}

fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Polls `path` until `done` holds for its answer, for at most `within`.
fn poll_until(
    addr: SocketAddr,
    path: &str,
    within: Duration,
    done: impl Fn(&Response) -> bool,
) -> Response {
    let start = Instant::now();
    loop {
        let response = get(addr, path);
        if done(&response) {
            return response;
        }
        assert!(
            start.elapsed() < within,
            "GET {path} still answered {} after {within:?}",
            response.status
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the service with `env` on top of the shared settings.
fn start_service(env: &[(&str, String)]) -> Process {
    let mut command = service_command(env!("CARGO_BIN_EXE_{{project-name}}"));
    for (key, value) in env {
        command.env(key, value);
    }
    Process::start("service", command)
}

{%- if metrics_flush != "none" %}
/// The value of the first sample line of `metric` whose labels contain all
/// of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(metric) && line[metric.len()..].starts_with('{'))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

/// Checks the per-step timings in a Prometheus text exposition.
fn assert_step_metrics(text: &str) {
    let count = "winddown_hook_duration_seconds_count";
    let worker = sample(text, count, &[r#"hook="job-worker""#, r#"outcome="ok""#]);
    assert_eq!(worker, Some(1.0), "one ok job-worker step in:\n{text}");
    let took = sample(text, "winddown_hook_duration_seconds_sum", &[r#"hook="job-worker""#])
        .expect("the job-worker step's duration");
    assert!(took > 0.1, "the job-worker step waited for the jobs, took {took}s");
    assert!(
        text.contains("winddown_drain_duration_seconds"),
        "the drain duration in:\n{text}"
    );
}
{%- endif %}

#[test]
fn sigterm_during_a_slow_request_drains_and_exports_the_timings() {
    // A directory of this run's own: nothing an earlier run left can pass
    // for what this one wrote.
    let scratch_dir = tempfile::Builder::new()
        .prefix("{{crate_name}}-test-")
        .tempdir()
        .expect("a scratch directory");
    let scratch = scratch_dir.path().to_path_buf();
    let {% if metrics_flush == "textfile" or metrics_flush == "pushgateway" %}mut {% endif %}env = vec![
        ("APP__SHUTDOWN__ANNOUNCE_DELAY", "1s".to_owned()),
        ("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s".to_owned()),
        ("APP__SHUTDOWN__TIMEOUT", "30s".to_owned()),
    ];
{%- if metrics_flush == "textfile" %}
    let textfile = scratch.join("{{crate_name}}.prom");
    env.push(("APP__METRICS__TEXTFILE", textfile.display().to_string()));
{%- endif %}
{%- if metrics_flush == "pushgateway" %}
    // A real Pushgateway on a loopback port of its own choosing: its
    // "Listening on" line says which.
    // (Debian: apt-get install prometheus-pushgateway)
    let mut command = Command::new("prometheus-pushgateway");
    // Groups in memory only: Debian's build persists them by default to one
    // file shared by every instance on the machine.
    command.args(["--web.listen-address=127.0.0.1:0", "--persistence.file="]);
    let gateway = Process::start("pushgateway", command);
    let listening = gateway.nth_line("msg=\"Listening on\"", 0);
    let gateway_addr: SocketAddr = listening
        .split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("the Pushgateway says where it listens: {listening:?}"));
    poll_until_up(gateway_addr);
    env.push(("APP__METRICS__PUSHGATEWAY", format!("http://{gateway_addr}")));
    env.push(("APP__METRICS__PUSH_INSTANCE", "test".to_owned()));
{%- endif %}
    let mut service = start_service(&env);
    let line = service.next_line("listening on ");
    let addr: SocketAddr = line
        .rsplit("listening on ")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("an address in {line:?}"));

    // Running: everything answers.
    assert_eq!(get(addr, "/readyz").status, 200);
    assert_eq!(get(addr, "/").status, 200);
    // Two background jobs, still queued or running when the drain ends:
    // the worker's hook waits for them.
    for _ in 0..2 {
        assert_eq!(request(addr, "POST", "/jobs?ms=1500").unwrap().status, 202);
    }

    // A slow request in flight when the signal comes: counted in flight
    // (as `/metrics` shows) before the signal is sent.
    let slow = std::thread::spawn(move || get(addr, "/slow?ms=2500"));
    poll_until(addr, "/metrics", Duration::from_secs(10), |r| {
        r.body.lines().any(|line| line == "winddown_inflight_requests 1")
    });
    service.signal("TERM");

    // Announcing: readiness fails at once, liveness does not, traffic is
    // still served but keep-alive connections are told to close.
    poll_until(addr, "/readyz", Duration::from_millis(500), |r| r.status == 503);
    assert_eq!(get(addr, "/healthz").status, 200);
    let announcing = get(addr, "/");
    assert_eq!(announcing.status, 200, "served while announcing");
    assert_eq!(announcing.header("connection"), Some("close"));

    // Draining: new work is refused with 503 and Retry-After.
    let refused = poll_until(addr, "/", Duration::from_secs(3), |r| r.status == 503);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(request(addr, "POST", "/jobs?ms=1").unwrap().status, 503);
    assert_eq!(get(addr, "/metrics").status, 200, "/metrics stays exempt");

    // The slow request completes with its full answer.
    let slow = slow.join().expect("the slow request's thread");
    assert_eq!(slow.status, 200);
    assert_eq!(slow.body, "done after 2500ms\n");

{%- if metrics_flush == "linger" %}
    // Linger: after cleanup, /metrics answers one more scrape with the
    // per-step timings.
    service.next_line("waiting for a last scrape");
    assert_step_metrics(&get(addr, "/metrics").body);
{%- endif %}

    let (code, output) = service.wait_output();
    assert_eq!(code, 0, "a clean shutdown exits 0:\n{output}");
    assert_eq!(output.matches("job done").count(), 2, "both queued jobs ran:\n{output}");
    // The report's row for the worker's step: `1  finish_work  job-worker  0.512s  ok`.
    let row = output
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|row| row.get(1..3) == Some(&["finish_work", "job-worker"][..]))
        .unwrap_or_else(|| panic!("the report lists the worker's step:\n{output}"));
    assert_eq!(row.last(), Some(&"ok"), "the worker's step succeeded: {row:?}");
{%- if metrics_flush == "textfile" %}
    let text = std::fs::read_to_string(&textfile).expect("the metrics textfile was written");
    assert_step_metrics(&text);
{%- endif %}
{%- if metrics_flush == "pushgateway" %}
    let pushed = get(gateway_addr, "/metrics").body;
    assert!(pushed.contains(r#"job="{{project-name}}""#), "grouped by job:\n{pushed}");
    assert_step_metrics(&pushed);
{%- endif %}
    let _ = std::fs::remove_dir_all(&scratch);
}
{%- if metrics_flush == "pushgateway" %}

/// Waits (at most 10 s) until something answers HTTP on `addr`.
fn poll_until_up(addr: SocketAddr) {
    let start = Instant::now();
    while !request(addr, "GET", "/-/ready").is_ok_and(|r| r.status == 200) {
        assert!(start.elapsed() < Duration::from_secs(10), "the Pushgateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}
{%- endif %}

#[test]
fn a_bad_setting_is_one_clear_line_and_exit_78() {
    let output = Command::new(env!("CARGO_BIN_EXE_{{project-name}}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("APP__SHUTDOWN__DRAIN_TIMEOUT", "ten seconds")
        .output()
        .expect("the service runs");
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("shutdown.drain_timeout") && stderr.contains("ten seconds"),
        "names the key and the value: {stderr}"
    );
}

#[test]
fn a_duration_too_long_to_be_real_is_refused_not_a_panic() {
    let output = Command::new(env!("CARGO_BIN_EXE_{{project-name}}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("APP__SHUTDOWN__TIMEOUT", "9223372036854775807s")
        .output()
        .expect("the service runs");
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        r#"configuration error: shutdown.timeout: expected a duration of at most "24h" (the longest any winddown duration may be), got "9223372036854775807s" (from APP__SHUTDOWN__TIMEOUT)"#
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let mut service = start_service(&[
        ("APP__LOG__FORMAT", "json".to_owned()),
        ("APP__SHUTDOWN__ANNOUNCE_DELAY", "0s".to_owned()),
        ("APP__METRICS__LINGER", "0s".to_owned()),
        ("APP__METRICS__PUSHGATEWAY", String::new()),
        ("APP__METRICS__TEXTFILE", String::new()),
    ]);
    service.next_line("listening on ");
    service.signal("TERM");
    let (code, output) = service.wait_output();
    assert_eq!(code, 0, "{output}");
    for line in service.stdout() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON object: {line:?}"
        );
    }
    assert!(output.contains(r#""message":"cleanup 1/1 done"#), "{output}");
}

/// Starts the service with a long linger and nothing else to flush.
fn start_lingering(extra: &[(&str, String)]) -> (Process, SocketAddr) {
    let mut env = vec![
        ("APP__SHUTDOWN__ANNOUNCE_DELAY", "0s".to_owned()),
        ("APP__METRICS__LINGER", "60s".to_owned()),
        ("APP__METRICS__PUSHGATEWAY", String::new()),
        ("APP__METRICS__TEXTFILE", String::new()),
    ];
    env.extend(extra.iter().cloned());
    let mut service = start_service(&env);
    let line = service.next_line("listening on ");
    let addr = line
        .rsplit("listening on ")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("an address in {line:?}"));
    (service, addr)
}

#[test]
fn ctrl_c_with_no_scraper_exits_at_once() {
    // Nobody ever scrapes /metrics (a laptop): no last scrape to wait for.
    let (service, addr) = start_lingering(&[]);
    assert_eq!(get(addr, "/").status, 200);
    let signalled = Instant::now();
    service.signal("INT");
    let (_, output) = service.wait_output();
    let took = signalled.elapsed();
    // The linger is 60 s: exiting well within half of it means it did not wait.
    assert!(took < Duration::from_secs(30), "took {took:?}:\n{output}");
    assert_eq!(output.matches("no scraper seen").count(), 1, "said once:\n{output}");
    assert!(!output.contains("waiting for a last scrape of /metrics"), "{output}");
    assert!(output.contains("shutdown report: clean (signal SIGINT)"), "{output}");
}

#[test]
fn a_scraped_service_waits_for_its_last_scrape() {
    let (mut service, addr) = start_lingering(&[("APP__SHUTDOWN__RETRY_AFTER", "7s".to_owned())]);
    // A scraper: Prometheus scraped once before the shutdown.
    assert_eq!(get(addr, "/metrics").status, 200);
    service.signal("TERM");
    service.next_line("waiting for a last scrape");
    // Still serving the probes and /metrics; refusing the rest with the
    // configured Retry-After.
    let refused = get(addr, "/");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("7"));
    let last = get(addr, "/metrics");
    assert_eq!(last.status, 200);
    assert!(
        last.body.contains("winddown_shutdown_duration_seconds_count 1"),
        "the last scrape carries the shutdown's figures:\n{}",
        last.body
    );
    let (code, output) = service.wait_output();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("linger: scraped after"), "{output}");
    assert!(!output.contains("no scraper seen"), "{output}");
}
