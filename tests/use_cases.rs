//! The four use cases of the original package, each run as a real process,
//! stopped by a real signal, and checked for what it promises.
//!
//! Signals are process-wide, so this binary only signals child processes.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Child;

/// Bound on starting a (debug) example up to its first meaningful line.
const START: Duration = Duration::from_secs(30);
/// Bound on the whole shutdown of an example.
const EXIT: Duration = Duration::from_secs(30);

/// A uniquely named scratch dir under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("winddown-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The numbers of the lines that start with `prefix`, in order.
fn numbers(lines: &[String], prefix: &str) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
        .collect()
}

fn output(child: &Child) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        child.stdout_lines().join("\n"),
        child.stderr_lines().join("\n")
    )
}

// ----- 2. worker queue -----

struct Accounts {
    enqueued: BTreeSet<u64>,
    processed: BTreeSet<u64>,
    unprocessed: BTreeSet<u64>,
}

/// Reads the job lines and checks that every enqueued job is accounted for
/// exactly once.
fn account_for_every_job(child: &Child) -> Accounts {
    let out = child.stdout_lines();
    let all = output(child);
    let enqueued = numbers(&out, "enqueued job ");
    let processed = numbers(&out, "processed job ");
    let list = out
        .iter()
        .find_map(|l| l.strip_prefix("unprocessed jobs: "))
        .unwrap_or_else(|| panic!("no unprocessed list\n{all}"));
    let unprocessed: Vec<u64> = list
        .trim_matches(['[', ']'])
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();

    let accounts = Accounts {
        enqueued: enqueued.iter().copied().collect(),
        processed: processed.iter().copied().collect(),
        unprocessed: unprocessed.iter().copied().collect(),
    };
    assert_eq!(
        accounts.enqueued.len(),
        enqueued.len(),
        "enqueued twice\n{all}"
    );
    assert_eq!(
        accounts.processed.len(),
        processed.len(),
        "processed twice\n{all}"
    );
    assert_eq!(
        accounts.unprocessed.len(),
        unprocessed.len(),
        "listed twice\n{all}"
    );
    assert!(
        accounts.processed.is_disjoint(&accounts.unprocessed),
        "a job is both processed and unprocessed\n{all}"
    );
    let union: BTreeSet<u64> = accounts
        .processed
        .union(&accounts.unprocessed)
        .copied()
        .collect();
    assert_eq!(
        union, accounts.enqueued,
        "a job was dropped or invented\n{all}"
    );
    accounts
}

fn worker_queue(env: &[(&str, &str)]) -> Child {
    let child = Child::example("worker_queue", env);
    child.expect_line("enqueued job 30", START);
    child.signal("TERM");
    child
}

#[test]
fn worker_queue_that_drains_in_time_processes_every_job() {
    let child = worker_queue(&[
        ("JOBS", "100000"),
        ("WORKERS", "4"),
        ("JOB_MS", "40"),
        ("ENQUEUE_MS", "5"),
        ("HOOK_TIMEOUT_MS", "10000"),
    ]);
    let status = child.wait(EXIT);
    let all = output(&child);
    assert_eq!(status.code(), Some(0), "{all}");
    let accounts = account_for_every_job(&child);
    assert!(accounts.unprocessed.is_empty(), "{all}");
    assert!(accounts.enqueued.len() >= 30, "{all}");
    assert!(
        accounts.enqueued.len() < 100_000,
        "intake stopped at the signal\n{all}"
    );
    let stdout = child.stdout_lines();
    let drained = stdout.iter().position(|l| l == "queue drained");
    let joined = stdout.iter().position(|l| l == "4 workers joined");
    assert!(drained.is_some() && joined > drained, "{all}");
    assert!(
        all.contains("shutdown report: clean (signal SIGTERM)"),
        "{all}"
    );
    assert!(all.contains("cleanup 2/3 done ("), "{all}");
}

#[test]
fn worker_queue_that_does_not_drain_reports_every_unprocessed_job() {
    let child = worker_queue(&[
        ("JOBS", "100000"),
        ("WORKERS", "2"),
        ("JOB_MS", "300"),
        ("ENQUEUE_MS", "5"),
        ("HOOK_TIMEOUT_MS", "400"),
    ]);
    let status = child.wait(EXIT);
    let all = output(&child);
    assert_eq!(status.code(), Some(1), "{all}");
    let accounts = account_for_every_job(&child);
    assert!(!accounts.unprocessed.is_empty(), "{all}");
    assert!(
        all.contains("error: the queue did not drain before the hook deadline"),
        "the hook acted on wait() returning false\n{all}"
    );
    assert!(all.contains("2 workers joined"), "{all}");
    assert!(
        all.contains("shutdown report: FAILED (signal SIGTERM)"),
        "{all}"
    );
}

// ----- 3. database pool -----

#[test]
fn sqlite_pool_keeps_every_acknowledged_write_and_leaves_the_file_clean() {
    let scratch = Scratch::new("sqlite");
    let db = scratch.path().join("acks.db");
    let child = Child::example(
        "sqlite_pool",
        &[
            ("DB_PATH", db.to_str().unwrap()),
            ("WRITERS", "4"),
            ("POOL_SIZE", "4"),
            ("WRITE_MS", "10"),
        ],
    );
    child.expect_line("ack 40", START);
    child.signal("TERM");
    let status = child.wait(EXIT);
    let all = output(&child);
    assert_eq!(status.code(), Some(0), "{all}");

    let stdout = child.stdout_lines();
    let in_flight = stdout
        .iter()
        .find_map(|l| {
            l.strip_prefix("writes stopped: ")?
                .strip_suffix(" queries in flight")
        })
        .unwrap_or_else(|| panic!("no stop line\n{all}"));
    assert!(
        in_flight.parse::<usize>().unwrap() >= 1,
        "queries were in flight at the signal\n{all}"
    );
    let stopped = stdout.iter().position(|l| l.starts_with("writes stopped"));
    let finished = stdout
        .iter()
        .position(|l| l == "in-flight queries finished");
    let closed = stdout
        .iter()
        .position(|l| l.starts_with("pool closed: 4 connections"));
    assert!(
        stopped.is_some() && finished > stopped && closed > finished,
        "{all}"
    );
    let acked: BTreeSet<i64> = numbers(&stdout, "ack ")
        .into_iter()
        .map(|id| id as i64)
        .collect();
    assert!(acked.len() >= 40, "{all}");

    // Closed cleanly: the WAL was checkpointed into the file and removed.
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", db.display()));
        assert!(!side.exists(), "{} left behind\n{all}", side.display());
    }

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::ZERO).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let mut select = conn.prepare("SELECT id FROM acks").unwrap();
    let stored: BTreeSet<i64> = select
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    // The writes in flight at the signal finished and were acknowledged too.
    assert_eq!(stored, acked, "{all}");
    drop(select);
    // Not left locked: an exclusive lock is granted at once.
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").unwrap();
}

// ----- 4. CLI tool with temp files -----

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

fn temp_dir_of(child: &Child) -> PathBuf {
    let line = child.expect_line("temp dir: ", START);
    PathBuf::from(line.trim_start_matches("temp dir: "))
}

#[test]
fn cli_interrupted_by_ctrl_c_removes_its_temp_dir_and_exits_130() {
    let base = Scratch::new("cli");
    let child = Child::example(
        "cli_tempfiles",
        &[
            ("TEMP_BASE", base.path().to_str().unwrap()),
            ("FILES", "100000"),
            ("FILE_MS", "5"),
        ],
    );
    let dir = temp_dir_of(&child);
    assert!(dir.starts_with(base.path()));
    child.expect_line("wrote file 20/100000", START);
    assert!(entries(&dir).len() >= 20, "the files are really written");
    child.signal("INT");
    let status = child.wait(EXIT);
    let all = output(&child);
    assert_eq!(status.code(), Some(130), "{all}");
    assert!(!dir.exists(), "{} left behind\n{all}", dir.display());
    assert_eq!(entries(base.path()), Vec::<PathBuf>::new(), "{all}");
    assert!(all.contains("removed temp dir"), "{all}");
    assert!(
        all.contains("shutdown report: clean (signal SIGINT)"),
        "{all}"
    );
    assert!(!all.contains("done: wrote"), "{all}");
}

#[test]
fn cli_that_finishes_removes_its_temp_dir_and_exits_0() {
    let base = Scratch::new("cli-done");
    let child = Child::example(
        "cli_tempfiles",
        &[
            ("TEMP_BASE", base.path().to_str().unwrap()),
            ("FILES", "5"),
            ("FILE_MS", "1"),
        ],
    );
    let status = child.wait(EXIT);
    let all = output(&child);
    assert_eq!(status.code(), Some(0), "{all}");
    assert!(all.contains("done: wrote 5 files"), "{all}");
    assert!(all.contains("removed temp dir"), "{all}");
    assert_eq!(entries(base.path()), Vec::<PathBuf>::new(), "{all}");
}

// ----- 1. web server -----

/// One HTTP/1.1 request with `Connection: close`; the status and the whole
/// response (head and body).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    (status, response)
}

/// Repeats `GET path` until it answers `status`, for at most `within`.
fn get_until(addr: SocketAddr, path: &str, status: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (got, response) = get(addr, path);
        if got == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} never answered {status} within {within:?}; last:\n{response}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The index of the first line containing `needle`.
fn line_index(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line containing {needle:?}:\n{}", lines.join("\n")))
}

#[test]
fn web_server_flips_readiness_finishes_in_flight_requests_then_closes_the_database() {
    let child = Child::example(
        "web_server",
        &[
            ("ANNOUNCE_MS", "1000"),
            ("SLOW_MS", "1500"),
            ("DRAIN_MS", "10000"),
        ],
    );
    let addr: SocketAddr = child
        .expect_line("listening on ", START)
        .trim_start_matches("listening on ")
        .parse()
        .unwrap();
    let (status, ready) = get(addr, "/readyz");
    assert_eq!(status, 200, "{ready}");

    let slow = std::thread::spawn(move || get(addr, "/slow"));
    child.expect_line("slow request started", START);
    child.signal("TERM");

    // Readiness flips at the signal, while traffic is still served.
    let ready = get_until(addr, "/readyz", 503, Duration::from_secs(5));
    assert!(
        ready.contains("not ready: shutting down (announcing)"),
        "{ready}"
    );
    let (status, hello) = get(addr, "/");
    assert_eq!(status, 200, "still served while announcing:\n{hello}");
    assert!(
        hello.to_ascii_lowercase().contains("connection: close"),
        "{hello}"
    );
    let (status, alive) = get(addr, "/healthz");
    assert_eq!(status, 200, "{alive}");

    // Then new work is refused with a hint, while the slow request runs on.
    let refused = get_until(addr, "/", 503, Duration::from_secs(10));
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: "),
        "{refused}"
    );

    // The request in flight at the signal completes.
    let (status, body) = slow.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("slow done"), "{body}");

    let exit = child.wait(EXIT);
    let all = output(&child);
    assert_eq!(exit.code(), Some(0), "{all}");
    assert!(
        all.contains("shutdown report: clean (signal SIGTERM)"),
        "{all}"
    );

    // The order of the progress lines: the close hook runs after the drain.
    let log = child.stderr_lines();
    let signal = line_index(&log, "received SIGTERM");
    let finished = line_index(&log, "slow request finished");
    let drained = line_index(&log, "drained (");
    let closed = line_index(&log, "database closed");
    let done = line_index(&log, "cleanup 1/1 done (");
    assert!(
        signal < finished && finished < drained && drained < closed && closed < done,
        "{all}"
    );
}
