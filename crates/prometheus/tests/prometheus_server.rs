//! End to end with a real Prometheus server and a real Pushgateway: a service
//! goes through a shutdown, Prometheus gets the last scrape thanks to the
//! linger, and the per-hook durations are read back from Prometheus's query
//! API, from the Pushgateway and from the textfile.
//!
//! Needs the `prometheus` and `prometheus-pushgateway` binaries
//! (`scripts/install-test-deps.sh`). Without them the test is skipped with a
//! message, unless `CI` is set: then it fails.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::{Instant, sleep};
use winddown_core::{Phase, Shutdown, hook_fn};
use winddown_prometheus::{FinalExport, LingerOutcome, PrometheusMetrics, PushError, Pushgateway};

const JOB: &str = "winddown-it";
const INSTANCE: &str = "orders-0";
/// The whole test, servers included, must end within this.
const TEST_BOUND: Duration = Duration::from_secs(90);

// ----- processes -----

/// A child process killed (and its temp dir removed) when dropped, also on
/// panic.
struct Server {
    name: &'static str,
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Server {
    /// Starts `binary` listening on a port of its own choosing
    /// (`--web.listen-address=127.0.0.1:0`), in `dir`, and learns the port
    /// from its "Listening on" log line.
    fn start(name: &'static str, binary: &Path, dir: tempfile::TempDir, args: &[String]) -> Server {
        let log = std::fs::File::create(dir.path().join("log.txt")).unwrap();
        let mut child = Command::new(binary)
            .arg("--web.listen-address=127.0.0.1:0")
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let text = std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default();
            let found = text
                .lines()
                .filter(|l| l.contains("msg=\"Listening on\""))
                .find_map(|l| {
                    l.split("address=")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited with {status}:\n{text}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} did not say where it listens within 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            name,
            child,
            dir,
            addr,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log.txt")).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((StatusCode::OK, _)) = get(self.addr, "/-/ready").await {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within 30s:\n{}",
                self.name,
                self.log()
            );
            sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log());
        }
    }
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/local/bin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// An address nothing listens on, for as long as the socket it returns is
/// kept: bound (so no one else can take the port) but not listening (so a
/// connect is refused).
fn refusing_addr() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// A private directory, created exclusively, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("winddown-it-{name}-"))
        .tempdir()
        .unwrap()
}

// ----- a small HTTP client -----

async fn get(addr: SocketAddr, path_and_query: &str) -> Result<(StatusCode, String), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let connection = tokio::spawn(connection);
    let request = Request::get(path_and_query)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    connection.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query; returns (labels, value) per series.
async fn query(
    prometheus: SocketAddr,
    promql: &str,
    at: f64,
) -> Vec<(BTreeMap<String, String>, f64)> {
    let path = format!("/api/v1/query?query={}&time={at:.3}", url_encode(promql));
    let (status, body) = get(prometheus, &path).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    json["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let labels = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            let value = series["value"][1].as_str().unwrap().parse().unwrap();
            (labels, value)
        })
        .collect()
}

/// Samples of `name` in a text exposition: (labels, value).
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let labels = series
                .split_once('{')
                .map(|(_, rest)| rest.trim_end_matches('}'))
                .unwrap_or("")
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap();
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            (labels, value.parse().unwrap())
        })
        .collect()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

// ----- the test -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_shutdown_reaches_prometheus_the_pushgateway_and_the_textfile() {
    let (Some(prometheus_bin), Some(pushgateway_bin)) = (
        find_binary("prometheus"),
        find_binary("prometheus-pushgateway"),
    ) else {
        let message = "prometheus and prometheus-pushgateway are not installed; run scripts/install-test-deps.sh";
        if std::env::var_os("CI").is_some() {
            panic!("{message} (CI is set, so this fails instead of skipping)");
        }
        eprintln!("SKIPPED: {message}");
        return;
    };
    tokio::time::timeout(TEST_BOUND, run(&prometheus_bin, &pushgateway_bin))
        .await
        .expect("the end-to-end test took too long");
}

async fn run(prometheus_bin: &Path, pushgateway_bin: &Path) {
    // The service: an axum router with /metrics, serving until done.
    let metrics = PrometheusMetrics::install().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service_addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::builder().no_signals().build();
    let app = Router::new()
        .route("/", axum::routing::get(|| async { "orders" }))
        .route_service("/metrics", metrics.service());
    let server = tokio::spawn({
        let done = shutdown.done();
        async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(done)
                .await
        }
    });

    // The Pushgateway and Prometheus, on free ports in temp dirs. The
    // Pushgateway keeps its groups in memory only: Debian's build persists
    // them by default to one file shared by every instance on the machine.
    let mut gateway = Server::start(
        "pushgateway",
        pushgateway_bin,
        temp_dir("pushgateway"),
        &["--persistence.file=".to_owned()],
    );
    let gateway_addr = gateway.addr;
    let prometheus_dir = temp_dir("prometheus");
    std::fs::write(
        prometheus_dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [\"{service_addr}\"]\n"
        ),
    )
    .unwrap();
    let config_file = prometheus_dir.path().join("prometheus.yml");
    let data_dir = prometheus_dir.path().join("data");
    let mut prometheus = Server::start(
        "prometheus",
        prometheus_bin,
        prometheus_dir,
        &[
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", data_dir.display()),
        ],
    );
    let prometheus_addr = prometheus.addr;
    gateway.wait_ready().await;
    prometheus.wait_ready().await;

    // Wait until Prometheus scrapes the service.
    let deadline = Instant::now() + Duration::from_secs(20);
    while query(
        prometheus_addr,
        &format!("up{{job=\"{JOB}\"}} == 1"),
        unix_now(),
    )
    .await
    .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the service:\n{}",
            prometheus.log()
        );
        sleep(Duration::from_millis(200)).await;
    }

    // Hooks that take measurable time, and the final export.
    shutdown
        .register(
            hook_fn("queue", |_| async {
                sleep(Duration::from_millis(200)).await;
                Ok(())
            })
            .phase(Phase::STOP_INTAKE),
        )
        .unwrap();
    shutdown
        .on_cleanup("db", |_| async {
            sleep(Duration::from_millis(400)).await;
            Ok(())
        })
        .unwrap();
    let textfile_dir = temp_dir("textfile");
    let textfile = textfile_dir.path().join("orders.prom");
    let export = FinalExport::new(&metrics)
        .linger(Duration::from_secs(10))
        .pushgateway(
            Pushgateway::new(&format!("http://{gateway_addr}"), JOB)
                .unwrap()
                .instance(INSTANCE),
        )
        .textfile(&textfile);
    // Run the export by hand as the before-done step, to look at its report.
    let (report_tx, report_rx) = tokio::sync::oneshot::channel();
    shutdown
        .before_done("final-export", move |_| async move {
            let _ = report_tx.send(export.run().await);
        })
        .unwrap();

    let triggered = Instant::now();
    shutdown.trigger();
    let report = shutdown.run().await;
    let done_at = unix_now();
    let export = report_rx.await.unwrap();
    server.await.unwrap().unwrap();
    println!(
        "shutdown took {:?}; final export: linger {}",
        triggered.elapsed(),
        export.linger
    );

    assert!(report.is_clean(), "{report}");
    assert!(
        matches!(export.linger, LingerOutcome::Scraped { waited } if waited < Duration::from_secs(5)),
        "Prometheus did not scrape within a few intervals: {}",
        export.linger
    );
    export.push.unwrap().unwrap();
    assert_eq!(export.textfile.unwrap().unwrap(), textfile);

    let expected: BTreeMap<String, f64> = report
        .hooks
        .iter()
        .map(|h| (h.name.clone(), h.duration.as_secs_f64()))
        .collect();
    assert!(
        expected["queue"] >= 0.2 && expected["db"] >= 0.4,
        "{expected:?}"
    );
    let by_hook = |series: Vec<(BTreeMap<String, String>, f64)>| -> BTreeMap<String, f64> {
        series
            .into_iter()
            .map(|(labels, value)| (labels["hook"].clone(), value))
            .collect()
    };
    let close_enough = |got: &BTreeMap<String, f64>| {
        got.len() == expected.len()
            && expected
                .iter()
                .all(|(hook, want)| got.get(hook).is_some_and(|v| (v - want).abs() < 1e-9))
    };

    // 1. Prometheus, at the time of the last scrape (after it the target is
    //    down and its series are marked stale).
    let deadline = Instant::now() + Duration::from_secs(10);
    let from_prometheus = loop {
        let got = query(
            prometheus_addr,
            "winddown_hook_duration_seconds_sum",
            done_at,
        )
        .await;
        let hooks = by_hook(got.clone());
        if close_enough(&hooks) {
            for (labels, _) in &got {
                assert_eq!(labels["job"], JOB);
                assert_eq!(labels["outcome"], "ok");
                assert_eq!(labels["instance"], service_addr.to_string());
            }
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus has {hooks:?}, expected {expected:?}"
        );
        sleep(Duration::from_millis(200)).await;
    };
    let totals = query(
        prometheus_addr,
        "winddown_shutdown_duration_seconds_count",
        done_at,
    )
    .await;
    assert_eq!(totals.len(), 1, "{totals:?}");
    assert_eq!(totals[0].1, 1.0);
    // Also found later, as a dashboard would ask once the pod is gone.
    let later = query(
        prometheus_addr,
        "last_over_time(winddown_hook_duration_seconds_sum[5m])",
        unix_now(),
    )
    .await;
    assert!(close_enough(&by_hook(later)));

    // 2. The Pushgateway, in the group job/instance.
    let (status, gateway_text) = get(gateway_addr, "/metrics").await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let pushed = samples(&gateway_text, "winddown_hook_duration_seconds_sum");
    for (labels, _) in &pushed {
        assert_eq!(labels["job"], JOB);
        assert_eq!(labels["instance"], INSTANCE);
    }
    assert!(
        close_enough(&by_hook(pushed.clone())),
        "{pushed:?} vs {expected:?}"
    );

    // 3. The textfile.
    let file_text = std::fs::read_to_string(&textfile).unwrap();
    assert!(close_enough(&by_hook(samples(
        &file_text,
        "winddown_hook_duration_seconds_sum"
    ))));

    // Show what was scraped (the README quotes this output).
    println!("--- Prometheus: winddown_hook_duration_seconds_sum at the last scrape ---");
    for (labels, value) in &from_prometheus {
        let labels: Vec<String> = labels
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        println!(
            "winddown_hook_duration_seconds_sum{{{}}} {value}",
            labels.join(",")
        );
    }
    println!("--- Pushgateway /metrics (group job={JOB}, instance={INSTANCE}) ---");
    for line in gateway_text
        .lines()
        .filter(|l| l.contains("winddown_hook_duration_seconds"))
    {
        println!("{line}");
    }
    println!("--- the service's last /metrics ---");
    let last = metrics.render();
    for line in last.lines().filter(|l| {
        l.contains("winddown_hook_duration_seconds")
            || l.starts_with("winddown_shutdown_duration_seconds_")
    }) {
        println!("{line}");
    }

    // Pushgateway semantics: a PUT replaces the group, DELETE removes it.
    let group = Pushgateway::new(&format!("http://{gateway_addr}"), JOB)
        .unwrap()
        .instance(INSTANCE);
    group.push("winddown_state 4\n").await.unwrap();
    let (_, gateway_text) = get(gateway_addr, "/metrics").await.unwrap();
    assert!(samples(&gateway_text, "winddown_hook_duration_seconds_sum").is_empty());
    assert_eq!(samples(&gateway_text, "winddown_state").len(), 1);
    group.delete().await.unwrap();
    let (_, gateway_text) = get(gateway_addr, "/metrics").await.unwrap();
    assert!(
        samples(&gateway_text, "winddown_state").is_empty(),
        "{gateway_text}"
    );

    // A refused push names the gateway's reason.
    let err = group.push("not metrics at all {\n").await.unwrap_err();
    match &err {
        PushError::Status { status, body, .. } => {
            assert_eq!(*status, StatusCode::BAD_REQUEST);
            assert!(!body.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    println!("refused push: {err}");
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_clear_error() {
    let (_bound, addr) = refusing_addr();
    let err = Pushgateway::new(&format!("http://{addr}"), JOB)
        .unwrap()
        .push("winddown_state 4\n")
        .await
        .unwrap_err();
    assert!(matches!(err, PushError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to the Pushgateway at {addr}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn a_silent_gateway_is_cut_at_the_timeout() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let start = Instant::now();
    let err = Pushgateway::new(&format!("http://{addr}"), JOB)
        .unwrap()
        .instance("")
        .timeout(Duration::from_millis(300))
        .push("winddown_state 4\n")
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(
        err.to_string(),
        format!("no answer from the Pushgateway at http://{addr}/metrics/job/{JOB} within 0.300s")
    );
    hold.abort();
}
