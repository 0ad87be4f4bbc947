//! The configuration reaches the layer and the budget check in one call
//! each: `shutdown.retry_after` and `shutdown.exempt_paths` from a file are
//! what a real client sees while the service drains, and the budget counts
//! the hooks actually registered.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winddown::State;
use winddown::config::{BudgetProblem, Config, ConfigError};
use winddown::http::Probe;

/// One `GET` on a fresh HTTP/1.1 connection: the status and the lowercased
/// head.
async fn get_head(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// `text` as `<name>.toml` in a temporary directory of its own (removed
/// with the returned handle).
fn config_file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_and_exempt_paths_from_the_file_reach_the_clients() {
    let (_scratch, file) = config_file(
        "layer",
        "[shutdown]\nannounce_delay = \"0s\"\nretry_after = \"10s\"\nexempt_paths = [\"/livez\", \"/metrics\"]\n",
    );
    let config = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap();
    std::fs::remove_file(&file).unwrap();
    let shutdown = config.shutdown.builder().no_signals().build();
    // A hook that holds the sequence in cleanup until the probing is done.
    let release = winddown_testkit::hold_in_cleanup(&shutdown);

    let app = Router::new()
        .route("/", get(|| async { "hello" }))
        .route_service("/livez", Probe::liveness(shutdown.clone()))
        .route_service("/healthz", Probe::liveness(shutdown.clone()))
        .route_service("/readyz", Probe::readiness(shutdown.clone()))
        .layer(config.shutdown.drain_layer(&shutdown));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        let serve = winddown::server::serve(listener, app, shutdown.clone());
        async move { shutdown.run_until(serve).await }
    });
    assert_eq!(get_head(addr, "/").await.0, 200);

    shutdown.trigger();
    shutdown.reached(State::Cleanup).await;
    let (status, head) = get_head(addr, "/").await;
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("\r\nretry-after: 10\r\n"), "{head}");
    // Exempt as the file says: /livez is, /healthz no longer is.
    assert_eq!(get_head(addr, "/livez").await.0, 200);
    assert_eq!(get_head(addr, "/healthz").await.0, 503);

    release.send(()).unwrap();
    let report = running.await.unwrap();
    assert_eq!(report.exit_code(), 0, "{report}");
}

#[test]
fn the_budget_counts_the_hooks_registered() {
    let config = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__ANNOUNCE_DELAY", "0s"),
            ("APP__SHUTDOWN__BUDGET_CHECK", "error"),
        ],
    )
    .unwrap();
    let shutdown = config.shutdown.builder().no_signals().build();
    // No hook: 0s + 15s fits in 30s.
    assert_eq!(config.budget_problems_for(&shutdown), []);
    for name in ["queue", "cache", "outbox"] {
        shutdown.on_cleanup(name, |_| async { Ok(()) }).unwrap();
    }
    // 15s + 3 × 5s = 30s: fits exactly.
    assert!(config.check_budget_for(&shutdown).is_ok());
    shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    let err = config.check_budget_for(&shutdown).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Budget(BudgetProblem::OverTimeout { hooks: 4, needed, .. })
                if needed == Duration::from_secs(35)
        ),
        "{err}"
    );
    // The timings are the shutdown's as built, even when set past the file.
    let shutdown = config
        .shutdown
        .builder()
        .timeout(Duration::from_secs(60))
        .no_signals()
        .build();
    for name in ["a", "b", "c", "d"] {
        shutdown.on_cleanup(name, |_| async { Ok(()) }).unwrap();
    }
    assert!(config.check_budget_for(&shutdown).is_ok());
}
