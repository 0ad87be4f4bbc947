//! Every fault bounded and reported: real processes, real signals.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Child;
use winddown::defaults::HOOK_CANCEL_GRACE;

/// These tests measure milliseconds: run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn report_json(child: &Child) -> Value {
    let line = child
        .stdout_lines()
        .into_iter()
        .find_map(|l| l.strip_prefix("report-json: ").map(str::to_owned))
        .expect("a report-json line");
    serde_json::from_str(&line).expect("report json")
}

fn hook<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no hook {name} in {report}"))
}

fn secs(v: &Value) -> Duration {
    Duration::from_secs_f64(v.as_f64().expect("seconds"))
}

/// How much earlier than its timeout a hook's measured time may end (the
/// clocks' rounding: a timer never fires early).
const EARLY: Duration = Duration::from_millis(20);

/// A hook ended at `expected`: not before it, and not later than a loaded
/// machine's scheduling can explain ([`OVERRUN`]; without its timeout the
/// hook would run to the global deadline, 10 s).
fn assert_ends_at(actual: Duration, expected: Duration, what: &str) {
    assert!(
        actual + EARLY >= expected && actual <= expected + OVERRUN,
        "{what}: {actual:?}, expected {expected:?} (at most {EARLY:?} earlier, {OVERRUN:?} later)"
    );
}

#[test]
fn faulty_hooks_end_at_their_timeouts_and_the_rest_still_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let child = Child::example(
        "faulty_hooks",
        &[("HANG_TIMEOUT_MS", "300"), ("IGNORE_TIMEOUT_MS", "200")],
    );
    child.expect_line("ready pid=", Duration::from_secs(20));
    child.signal("TERM");
    let status = child.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "a failed shutdown exits non-zero");
    let report = report_json(&child);

    let hangs = hook(&report, "hangs");
    assert_eq!(hangs["outcome"], "timeout");
    // It ignores its cancellation: dropped at the end of the grace.
    assert_ends_at(
        secs(&hangs["duration_seconds"]),
        Duration::from_millis(300) + HOOK_CANCEL_GRACE,
        "hangs",
    );

    let panics = hook(&report, "panics");
    assert_eq!(panics["outcome"], "panic");
    assert_eq!(panics["message"], "the queue client panicked");

    let fails = hook(&report, "fails");
    assert_eq!(fails["outcome"], "error");
    assert_eq!(fails["message"], "flush refused: broker unavailable");

    // It sees its token fire at its deadline and answers at once.
    let reacts = hook(&report, "reacts");
    assert_eq!(reacts["outcome"], "timeout");
    assert_eq!(reacts["message"], "cut, 12 records not flushed");
    assert_ends_at(
        secs(&reacts["duration_seconds"]),
        Duration::from_millis(100),
        "reacts",
    );

    let ignores = hook(&report, "ignores-token");
    assert_eq!(ignores["outcome"], "timeout");
    assert_eq!(ignores["message"], Value::Null);
    assert_ends_at(
        secs(&ignores["duration_seconds"]),
        Duration::from_millis(200) + HOOK_CANCEL_GRACE,
        "ignores-token",
    );

    assert_eq!(hook(&report, "runs-last")["outcome"], "ok");
    let order: Vec<&str> = report["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "hangs",
            "panics",
            "fails",
            "reacts",
            "ignores-token",
            "runs-last"
        ]
    );
    assert_eq!(report["deadline_exceeded"], false);

    let table = child.stdout_lines().join("\n");
    assert!(
        table.contains("shutdown report: FAILED (signal SIGTERM)"),
        "{table}"
    );
    assert!(
        table.contains("panic: the queue client panicked"),
        "{table}"
    );
    assert!(
        table.contains("timeout: cut, 12 records not flushed"),
        "{table}"
    );
    let log = child.stderr_lines().join("\n");
    assert!(
        log.contains("failed") && log.contains("timeout: cut, 12 records not flushed"),
        "the log line keeps the hook's answer: {log}"
    );
}

/// The global deadline of the `deadline_holds` runs.
const DEADLINE: Duration = Duration::from_millis(2000);
/// How far past it the sequence may end on a loaded machine (the runner
/// abandons a blocked hook 10 ms after its grace; the rest is scheduling).
const OVERRUN: Duration = Duration::from_millis(250);

/// The global deadline holds whatever the hooks' threads do — a hook that
/// hangs, one that panics (capturing a backtrace when `RUST_BACKTRACE` asks
/// for one, which can take long on a loaded machine: the deadline leaves
/// room for it, so that the hook that blocks its thread does start), one
/// that blocks its thread past the deadline — and whatever `RUST_BACKTRACE`
/// is.
#[test]
fn the_global_deadline_is_never_overrun() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for backtrace in [None, Some("1"), Some("full")] {
        for block_ms in ["0", "10000"] {
            deadline_holds(backtrace, block_ms);
        }
    }
}

fn deadline_holds(backtrace: Option<&str>, block_ms: &str) {
    let what = format!("RUST_BACKTRACE={backtrace:?}, BLOCK_MS={block_ms}");
    let mut cmd = support::command(support::examples_dir().join("faulty_hooks"));
    cmd.env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("GLOBAL_TIMEOUT_MS", DEADLINE.as_millis().to_string())
        .env("HANG_TIMEOUT_MS", "100")
        .env("IGNORE_TIMEOUT_MS", "5000")
        .env("BLOCK_MS", block_ms);
    match backtrace {
        Some(value) => cmd.env("RUST_BACKTRACE", value),
        None => cmd.env_remove("RUST_BACKTRACE"),
    };
    let child = Child::spawn(cmd);
    child.expect_line("ready pid=", Duration::from_secs(20));
    let sent = Instant::now();
    child.signal("TERM");
    let status = child.wait(Duration::from_secs(20));
    let wall = child.exited_at().unwrap() - sent;
    assert_eq!(status.code(), Some(1), "{what}");
    let report = report_json(&child);
    let total = secs(&report["total_seconds"]);
    eprintln!("{what}: deadline {DEADLINE:?}, report total {total:?}, signal to exit {wall:?}");
    assert!(total <= DEADLINE + OVERRUN, "{what}: total {total:?}");
    // The exit itself (a process that still has a blocked thread) on a
    // loaded machine: a wider bound than the report's.
    assert!(
        wall <= DEADLINE + Duration::from_secs(1),
        "{what}: signal to exit took {wall:?}"
    );
    assert_eq!(report["deadline_exceeded"], true, "{what}");
    // Hooks ran back to back from the start of cleanup; none ran past the
    // deadline, and whatever came after the cut never started.
    let mut end = secs(&report["announce_seconds"]) + secs(&report["drain_seconds"]);
    let mut cut = false;
    for h in report["hooks"].as_array().unwrap() {
        if cut {
            assert_eq!(h["outcome"], "skipped", "{what}: {report}");
        }
        end += secs(&h["duration_seconds"]);
        assert!(
            end <= DEADLINE + OVERRUN,
            "{what}: {} ended at {end:?}",
            h["name"]
        );
        cut |= h["outcome"] == "skipped" || end >= DEADLINE;
    }
    assert!(cut, "{what}: the deadline cut the sequence: {report}");
    assert_eq!(hook(&report, "runs-last")["outcome"], "skipped", "{what}");
    if block_ms != "0" {
        assert_eq!(hook(&report, "blocks")["outcome"], "timeout", "{what}");
    }
}
