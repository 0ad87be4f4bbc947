//! Hostile neighbours and careless input: links planted in a shared
//! textfile directory, a textfile name that would forge log lines, a
//! Pushgateway that answers with forged log lines, escape codes and an
//! endless body, and Pushgateway URLs whose password or port is not what it
//! seems.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use winddown_prometheus::{FinalExport, PrometheusMetrics, PushError, Pushgateway, write_textfile};
use winddown_testkit::LogCapture;

/// A scratch directory of its own (created exclusively), removed at the end.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("winddown-hostile-{name}-"))
            .tempdir()
            .unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

/// The process's umask, from `/proc/self/status` (0o022 if unknown).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line.split_whitespace().nth(1)?, 8).ok()
        })
        .unwrap_or(0o022)
}

#[test]
fn links_planted_in_the_textfile_directory_are_never_followed() {
    let scratch = Scratch::new("links");
    let shared = scratch.path().join("textfile");
    let private = scratch.path().join("private");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(&private).unwrap();
    let victim = private.join("victim.txt");
    let untouched = "the service's own data\n";
    std::fs::write(&victim, untouched).unwrap();
    let would_be_created = private.join("created-through-a-link");

    // A neighbour with write access to the shared directory plants links at
    // every name a writer could predict: the old `.<name>.<pid>.tmp`, nearby
    // pids, and other usual temporary names; dangling ones too, which would
    // create a file wherever they point.
    let pid = std::process::id();
    let mut planted = vec![
        format!(".app.prom.{pid}.tmp"),
        ".app.prom.tmp".to_owned(),
        "app.prom.tmp".to_owned(),
        ".app.prom.swp".to_owned(),
        "app.prom~".to_owned(),
    ];
    for near in pid.saturating_sub(3)..pid.saturating_add(4) {
        if near != pid {
            planted.push(format!(".app.prom.{near}.tmp"));
        }
    }
    for (i, name) in planted.iter().enumerate() {
        let target = if i % 2 == 0 {
            &victim
        } else {
            &would_be_created
        };
        link(target, &shared.join(name));
    }
    // And the target itself points at the victim.
    let path = shared.join("app.prom");
    link(&victim, &path);

    // The real final export, through the real recorder.
    let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("winddown_rejected_requests_total").increment(7);
    });
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(FinalExport::new(&metrics).textfile(&path).run());
    assert_eq!(report.textfile.unwrap().unwrap(), path);

    // The victim is untouched, nothing was created through a link.
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), untouched);
    assert!(!would_be_created.exists());
    // The target is now a regular file with the metrics, readable by the
    // collector (0644 less the umask).
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_file(), "{:?}", meta.file_type());
    assert_eq!(meta.permissions().mode() & 0o777, 0o644 & !umask());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("winddown_rejected_requests_total 7"),
        "{text}"
    );
    // Every planted link is still there, pointing where it did; the only
    // other entry is the new file.
    for (i, name) in planted.iter().enumerate() {
        let target = if i % 2 == 0 {
            &victim
        } else {
            &would_be_created
        };
        assert_eq!(&std::fs::read_link(shared.join(name)).unwrap(), target);
    }
    let entries = std::fs::read_dir(&shared).unwrap().count();
    assert_eq!(entries, planted.len() + 1);

    // Written again over its own file, still no temporary left behind.
    write_textfile(&path, "winddown_state 3\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "winddown_state 3\n"
    );
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        planted.len() + 1
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), untouched);
}

/// A gateway on 127.0.0.1 that reads one request and answers `status` with
/// `body`, then closes. Returns its address.
async fn hostile_gateway(status: &'static str, body: Vec<u8>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // Read the request head and its body.
        let mut request = Vec::new();
        let mut buf = [0; 4096];
        let head_end = loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed early");
            request.extend_from_slice(&buf[..n]);
            if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while request.len() < head_end + length {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            request.extend_from_slice(&buf[..n]);
        }
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(answer.as_bytes()).await.unwrap();
        // The client may stop reading once it has enough: ignore errors.
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    });
    addr
}

/// Pushes through a `FinalExport` to `addr` and returns the error and
/// everything logged.
fn push_and_capture(addr: std::net::SocketAddr) -> (PushError, String) {
    let logs = LogCapture::default();
    let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let gateway = Pushgateway::new(&format!("http://{addr}"), "orders")
        .unwrap()
        .instance("orders-0")
        .timeout(Duration::from_secs(20));
    let report = tracing::subscriber::with_default(logs.subscriber(), || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(FinalExport::new(&metrics).pushgateway(gateway).run())
    });
    let error = report.push.unwrap().unwrap_err();
    (error, logs.text())
}

#[test]
fn a_hostile_gateway_cannot_forge_log_lines_or_colour_the_terminal() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let forged = "bad\n2030-01-01T00:00:00.000000Z  INFO winddown: pushed metrics to the Pushgateway url=http://gw\r\n\u{1b}[2J\u{1b}[31mOWNED\u{1b}[0m\u{202e}";
    let addr = runtime.block_on(hostile_gateway(
        "400 Bad Request",
        forged.as_bytes().to_vec(),
    ));
    let (error, logs) = push_and_capture(addr);

    // One line: the warning, with the forged text escaped inside it.
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.ends_with('\n'));
    assert!(
        !logs.trim_end().contains(['\r', '\n', '\u{1b}', '\u{202e}']),
        "{logs:?}"
    );
    assert!(
        logs.trim_start()
            .starts_with("WARN winddown: could not push metrics to the Pushgateway"),
        "{logs}"
    );
    let shown = r"bad\n2030-01-01T00:00:00.000000Z  INFO winddown: pushed metrics to the Pushgateway url=http://gw\r\n\u{1b}[2J\u{1b}[31mOWNED\u{1b}[0m\u{202e}";
    assert!(logs.contains(shown), "{logs}");
    assert_eq!(
        error.to_string(),
        format!(
            "the Pushgateway at http://{addr}/metrics/job/orders/instance/orders-0 answered 400 Bad Request: {shown}"
        )
    );
}

#[test]
fn a_gateway_answering_without_end_is_read_and_logged_bounded() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // 8 MiB of one line, and then a forged one.
    let mut body = vec![b'x'; 8 * 1024 * 1024];
    body.extend_from_slice(b"\nINFO winddown: forged");
    let addr = runtime.block_on(hostile_gateway("500 Internal Server Error", body));
    let (error, logs) = push_and_capture(addr);
    let PushError::Status { body, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(body, &format!("{} […]", "x".repeat(512)));
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.len() < 1024, "{} bytes logged", logs.len());
    assert!(!logs.contains("forged"));
}

#[test]
fn a_password_in_the_gateway_url_is_never_shown() {
    for url in [
        "http://ops:s3cret@127.0.0.1:9091",
        "http://ops:s3c@ret@127.0.0.1:9091",
        "ops:s3cret@127.0.0.1:9091",
    ] {
        let error = Pushgateway::new(url, "orders").unwrap_err();
        let (shown, debug) = (error.to_string(), format!("{error:?}"));
        assert!(!shown.contains("s3c") && !debug.contains("s3c"), "{debug}");
        assert!(shown.contains("***@127.0.0.1:9091"), "{shown}");
        assert!(
            shown.contains(
                "credentials in the URL are not supported (the push sends no Authorization header"
            ),
            "{shown}"
        );
    }
}

#[test]
fn a_password_holding_a_reserved_character_is_refused_and_never_shown() {
    // `http::Uri` ends the authority at `/`, `?` or `#`: it reads the first
    // three with `ops` as the host, and the password in the path, query or
    // fragment. A space makes the URL unparseable.
    let expected = [
        (
            "http://ops:hunter/2@127.0.0.1:9091",
            "\"http://***@127.0.0.1:9091\": credentials in the URL are not supported",
        ),
        (
            "http://ops:hunter?2@127.0.0.1:9091",
            "\"http://***@127.0.0.1:9091\": credentials in the URL are not supported",
        ),
        (
            "http://ops:hunter#2@127.0.0.1:9091",
            "\"http://***@127.0.0.1:9091\": credentials in the URL are not supported",
        ),
        (
            "http://ops:hunter 2@127.0.0.1:9091",
            "\"http://***\": it is not a valid URL (only its scheme is shown: it may hold a password)",
        ),
        (
            "http://ops:hunter\t2@127.0.0.1:9091",
            "\"http://***\": it is not a valid URL (only its scheme is shown: it may hold a password)",
        ),
        (
            "ops:hunter/2@127.0.0.1:9091",
            "\"***\": it is not a valid URL (only its scheme is shown: it may hold a password)",
        ),
    ];
    for (url, start) in expected {
        let error = Pushgateway::new(url, "orders").unwrap_err();
        let (shown, debug) = (error.to_string(), format!("{error:?}"));
        assert!(matches!(error, PushError::InvalidUrl { .. }), "{debug}");
        assert!(
            !shown.contains("hunter") && !debug.contains("hunter"),
            "{url:?}: {debug}"
        );
        assert!(
            shown.starts_with(&format!("invalid Pushgateway URL {start}")),
            "{url:?}: {shown}"
        );
    }
}

#[test]
fn an_invalid_port_is_refused_naming_it_not_replaced_by_80() {
    for (url, port) in [
        ("http://127.0.0.1:99999", "99999"),
        ("http://127.0.0.1:9x91", "9x91"),
        ("http://127.0.0.1:-1/prefix", "-1"),
        ("http://127.0.0.1:", ""),
    ] {
        let error = Pushgateway::new(url, "orders").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "invalid Pushgateway URL {url:?}: its port {port:?} is not a number from 1 to 65535 \
                 (leave out the \":\" for port 80); expected a base URL like \"http://pushgateway:9091\""
            )
        );
    }
}

#[test]
fn a_pushgateway_on_a_valid_port_gets_the_push() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = runtime.block_on(hostile_gateway("200 OK", Vec::new()));
    // Leading zeros are still the same port.
    let url = format!("http://127.0.0.1:0{}", addr.port());
    let gateway = Pushgateway::new(&url, "orders")
        .unwrap()
        .instance("orders-0");
    runtime.block_on(gateway.push("x 1\n")).unwrap();
}

#[test]
fn a_textfile_name_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let forged = "x\n2030-01-01T00:00:00Z ERROR winddown: forged\u{1b}[31m";
    let path = dir.path().join(format!("{forged}.prom"));
    let logs = LogCapture::default();
    let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let run = |path: &Path| {
        tracing::subscriber::with_default(logs.subscriber(), || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(FinalExport::new(&metrics).textfile(path).run())
        })
    };
    let escaped = r"x\n2030-01-01T00:00:00Z ERROR winddown: forged\u{1b}[31m";

    // Written: one line, the name escaped in it.
    let report = run(&path);
    assert_eq!(report.textfile.unwrap().unwrap(), path);
    assert!(std::fs::read_to_string(&path).unwrap().contains("winddown"));
    let text = logs.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(!text.trim_end().contains(['\n', '\u{1b}']), "{text:?}");
    assert!(text.contains(&format!("{escaped}.prom")), "{text}");

    // Not written (its directory is missing): the error and its log line
    // show the name escaped too.
    let path = dir.path().join(forged).join("app.prom");
    let report = run(&path);
    let error = report.textfile.unwrap().unwrap_err().to_string();
    assert!(
        error.starts_with(&format!(
            "cannot create a temporary textfile in {}/{escaped}: ",
            dir.path().display()
        )),
        "{error}"
    );
    assert!(!error.contains(['\n', '\u{1b}']), "{error:?}");
    let text = logs.text();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.trim_end().contains('\u{1b}'), "{text:?}");
}
