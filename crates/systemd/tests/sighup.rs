//! `SIGHUP` sent to this very process while a hand-off is in progress. The
//! only test of this binary: signals are process-wide.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use winddown_core::Shutdown;
use winddown_systemd::handoff::Handoff;
use winddown_testkit::LogCapture;

/// Waits (at most 20 s) until `needle` has been logged `n` times.
async fn logged(logs: &LogCapture, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while logs.text().matches(needle).count() < n {
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged {n} times:\n{}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn sighup_to_this_process() {
    let status = Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
}

fn make_fifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo(1) runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Lets a new process still waiting on the FIFO go if the test fails half
/// way: it would wait forever (the FIFO goes with the temporary directory).
/// Opened for reading and writing, the FIFO does not wait for a reader.
struct Unblock(std::path::PathBuf);

impl Drop for Unblock {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        if let Ok(mut go) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0)
        {
            let _ = go.write_all(b"go\ngo\n");
        }
    }
}

#[test]
fn a_sighup_during_a_hand_off_is_ignored_and_the_next_one_starts_a_new_one() {
    let logs = LogCapture::default();
    let _default = tracing::subscriber::set_default(logs.subscriber());
    // Real time and a real child: one thread, so that the spawned task logs
    // to this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        // The new process of a hand-off notes that it started, then waits
        // until the test writes to its FIFO, and exits without reporting
        // ready: the hand-off is in progress exactly until then.
        let fifo = dir.path().join("go");
        make_fifo(&fifo);
        let _unblock = Unblock(fifo.clone());
        let started = dir.path().join("started");
        let script = r#"echo started >> "$1"; read go < "$0""#;
        let shutdown = Shutdown::builder().no_signals().build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let task = Handoff::new(shutdown.clone(), &listener)
            .unwrap()
            .program(
                "/bin/sh",
                [
                    "-c".as_ref(),
                    script.as_ref(),
                    fifo.as_os_str(),
                    started.as_os_str(),
                ],
            )
            .ready_timeout(Duration::from_secs(60))
            .on_sighup()
            .unwrap();
        // Opening the FIFO for writing waits for its reader: the new
        // process is running.
        let release = {
            let fifo = fifo.clone();
            move || {
                let mut go = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                go.write_all(b"go\n").unwrap();
            }
        };

        sighup_to_this_process();
        logged(&logs, "waiting for it to be ready", 1).await;
        sighup_to_this_process();
        logged(&logs, "SIGHUP ignored: a hand-off is in progress", 1).await;
        tokio::task::spawn_blocking(release.clone()).await.unwrap();
        logged(&logs, "hand-off failed; this process keeps serving", 1).await;
        let starts = std::fs::read_to_string(&started).unwrap();
        assert_eq!(starts.lines().count(), 1, "one new process");

        // With the hand-off over, the next SIGHUP starts a new one.
        sighup_to_this_process();
        logged(&logs, "waiting for it to be ready", 2).await;
        tokio::task::spawn_blocking(release.clone()).await.unwrap();
        logged(&logs, "hand-off failed; this process keeps serving", 2).await;
        let starts = std::fs::read_to_string(&started).unwrap();
        assert_eq!(starts.lines().count(), 2, "{}", logs.text());

        shutdown.trigger();
        task.await.unwrap();
    });
}
