//! Real processes, real signals: the `hooks` example under SIGTERM and SIGINT.
//!
//! Signals are process-wide, so this binary only signals child processes.

mod support;

use std::time::{Duration, Instant};

use support::Child;

fn spawn_hooks(slow_ms: u64) -> Child {
    let child = Child::example("hooks", &[("SLOW_HOOK_MS", &slow_ms.to_string())]);
    child.expect_line("ready pid=", Duration::from_secs(20));
    child
}

#[test]
fn sigterm_runs_every_hook_in_phase_order_and_exits_0() {
    let child = spawn_hooks(100);
    child.signal("TERM");
    let status = child.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0));
    let hooks: Vec<String> = child
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with("hook "))
        .collect();
    assert_eq!(
        hooks,
        [
            "hook stop-consumer start",
            "hook stop-consumer end",
            "hook flush-cache start",
            "hook flush-cache end",
            "hook close-db start",
            "hook close-db end",
        ]
    );
    let out = child.stdout_lines().join("\n");
    assert!(
        out.contains("shutdown report: clean (signal SIGTERM)"),
        "{out}"
    );
    let err = child.stderr_lines().join("\n");
    for i in 1..=3 {
        assert!(err.contains(&format!("cleanup {i}/3 done (")), "{err}");
    }
}

#[test]
fn sigint_is_a_graceful_trigger_too() {
    let child = spawn_hooks(50);
    child.signal("INT");
    assert_eq!(child.wait(Duration::from_secs(20)).code(), Some(0));
    let out = child.stdout_lines().join("\n");
    assert!(
        out.contains("shutdown report: clean (signal SIGINT)"),
        "{out}"
    );
    assert!(out.contains("hook close-db end"), "{out}");
}

fn second_signal_exits_at_once(sig: &str, code: i32) {
    let child = spawn_hooks(60_000);
    child.signal(sig);
    child.expect_line("hook flush-cache start", Duration::from_secs(20));
    let sent = Instant::now();
    child.signal(sig);
    let status = child.wait(Duration::from_secs(10));
    let took = child.exited_at().unwrap() - sent;
    assert_eq!(status.code(), Some(code));
    assert!(
        !child
            .stdout_lines()
            .iter()
            .any(|l| l == "hook flush-cache end"),
        "the slow hook was cut short"
    );
    let err = child.stderr_lines().join("\n");
    assert!(err.contains(&format!("forced exit {code}")), "{err}");
    eprintln!("second {sig}: exited {code} {took:?} after the signal");
    // At once rather than after the 60 s hook (the bound allows for a
    // loaded machine; the time is printed above).
    assert!(took < Duration::from_secs(5), "forced exit took {took:?}");
}

#[test]
fn a_second_sigterm_during_a_slow_hook_exits_143() {
    second_signal_exits_at_once("TERM", 143);
}

#[test]
fn a_second_sigint_during_a_slow_hook_exits_130() {
    second_signal_exits_at_once("INT", 130);
}
