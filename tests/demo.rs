//! The README's main command, `cargo run --example demo`, as a real process.

mod support;

use std::time::Duration;

use support::Child;

#[test]
fn the_demo_shows_a_full_graceful_shutdown() {
    let child = Child::example("demo", &[]);
    let status = child.wait(Duration::from_secs(30));
    let out = child.stdout_lines().join("\n");
    assert_eq!(status.code(), Some(0), "{out}");
    for expected in [
        "GET /readyz  -> 503",
        "GET /        -> 200, Connection: close",
        "GET /        -> 503, Retry-After: 5",
        "GET /healthz -> 200",
        "GET /slow    -> 200 with 65536 of 65536 body bytes",
        "winddown_hook_duration_seconds_sum{hook=\"close-database\",phase=\"close\",outcome=\"ok\"} 1.0",
        "shutdown report: clean (signal SIGTERM)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // The progress lines, one per hook (tracing writes them to stdout).
    for i in 1..=3 {
        assert!(out.contains(&format!("cleanup {i}/3 done (")), "{out}");
    }
}
