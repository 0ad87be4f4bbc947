//! Every fault bounded and reported: real processes, real signals.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Child;

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

fn assert_near(actual: Duration, expected: Duration, tolerance: Duration, what: &str) {
    let diff = actual.abs_diff(expected);
    assert!(
        diff <= tolerance,
        "{what}: {actual:?}, expected {expected:?} ± {tolerance:?}"
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
    let tolerance = Duration::from_millis(20);

    let hangs = hook(&report, "hangs");
    assert_eq!(hangs["outcome"], "timeout");
    assert_near(
        secs(&hangs["duration_seconds"]),
        Duration::from_millis(300),
        tolerance,
        "hangs",
    );

    let panics = hook(&report, "panics");
    assert_eq!(panics["outcome"], "panic");
    assert_eq!(panics["message"], "the queue client panicked");

    let fails = hook(&report, "fails");
    assert_eq!(fails["outcome"], "error");
    assert_eq!(fails["message"], "flush refused: broker unavailable");

    let ignores = hook(&report, "ignores-token");
    assert_eq!(ignores["outcome"], "timeout");
    assert_near(
        secs(&ignores["duration_seconds"]),
        Duration::from_millis(200),
        tolerance,
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
        ["hangs", "panics", "fails", "ignores-token", "runs-last"]
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
}

#[test]
fn the_global_deadline_is_never_overrun_by_more_than_50ms() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let child = Child::example(
        "faulty_hooks",
        &[
            ("GLOBAL_TIMEOUT_MS", "500"),
            ("HANG_TIMEOUT_MS", "400"),
            ("IGNORE_TIMEOUT_MS", "400"),
        ],
    );
    child.expect_line("ready pid=", Duration::from_secs(20));
    let sent = Instant::now();
    child.signal("TERM");
    let status = child.wait(Duration::from_secs(20));
    let wall = child.exited_at().unwrap() - sent;
    assert_eq!(status.code(), Some(1));
    let report = report_json(&child);
    let total = secs(&report["total_seconds"]);
    eprintln!("deadline 500ms: report total {total:?}, signal to exit {wall:?}");
    assert!(total <= Duration::from_millis(550), "total {total:?}");
    assert!(
        wall <= Duration::from_millis(550),
        "signal to exit took {wall:?}"
    );
    assert_eq!(report["deadline_exceeded"], true);
    // Hooks ran back to back from the start of cleanup; none ran past the
    // deadline, and whatever came after the cut never started.
    let mut end = secs(&report["announce_seconds"]) + secs(&report["drain_seconds"]);
    let mut cut = false;
    for h in report["hooks"].as_array().unwrap() {
        if cut {
            assert_eq!(h["outcome"], "skipped", "{report}");
        }
        end += secs(&h["duration_seconds"]);
        assert!(
            end <= Duration::from_millis(550),
            "{} ended at {end:?}",
            h["name"]
        );
        cut |= h["outcome"] == "skipped" || end >= Duration::from_millis(500);
    }
    assert!(cut, "the deadline cut the sequence: {report}");
    assert_eq!(hook(&report, "runs-last")["outcome"], "skipped");
}
