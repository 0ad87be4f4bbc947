//! Real signals, in a child process of this test binary (signals are
//! process-wide): the test re-runs itself with `WINDDOWN_SIGNAL_CHILD` set,
//! and the child sends itself the signal.

#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use winddown_core::Shutdown;

/// Set in the child's environment: run the scenario, not the parent test.
const CHILD: &str = "WINDDOWN_SIGNAL_CHILD";

/// A shutdown started from code (a hand-off, a failed service, `trigger`)
/// is not cut by the first SIGTERM that follows (`systemctl stop`, a pod
/// deletion): the sequence runs to its end and the exit code is its own.
#[test]
fn the_first_signal_after_a_trigger_from_code_does_not_force_an_exit() {
    if std::env::var_os(CHILD).is_some() {
        let code = child_with_a_code_trigger_then_sigterm();
        // The parent knows the scenario ran (not a filter that matched no
        // test) by this line.
        println!("RESULT sequence ended, exit code {code}");
        std::process::exit(code);
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_first_signal_after_a_trigger_from_code_does_not_force_an_exit",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the graceful shutdown was cut by the first SIGTERM: {}\n{stdout}",
        output.status
    );
    assert!(
        stdout.contains("RESULT sequence ended, exit code 0"),
        "the scenario ran to its end:\n{stdout}"
    );
}

/// Triggers from code, then, inside a cleanup hook, sends itself SIGTERM and
/// waits until the signal has been delivered (and the shutdown's listener,
/// woken with this hook's own listener, has had its turn). Returns the
/// report's exit code.
fn child_with_a_code_trigger_then_sigterm() -> i32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let shutdown = Shutdown::new();
        shutdown.listen_for_signals().unwrap();
        shutdown
            .on_cleanup("flush", |_| async {
                let mut term = signal(SignalKind::terminate())?;
                let status = Command::new("kill")
                    .args(["-TERM", &std::process::id().to_string()])
                    .status()?;
                assert!(status.success());
                term.recv().await;
                // The listener was woken with `term`: let it run.
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(())
            })
            .unwrap();
        shutdown.trigger();
        let report = shutdown.run().await;
        assert_eq!(report.hooks[0].outcome, winddown_core::HookOutcome::Ok);
        report.exit_code()
    })
}
