//! Run with `cargo run --example cli_tempfiles`, then press Ctrl+C while it writes.
//!
//! Environment: `TEMP_BASE` (where the temp dir is made, default the system
//! temp dir), `FILES` (how many files to write, default 500) and `FILE_MS`
//! (pause between two files, default 20).
//!
//! A command-line tool that writes many files into a temp dir of its own
//! (`$TEMP_BASE/cli-tempfiles-<pid>`), printing `wrote file 17/500` as it
//! goes, then sums up what it wrote. Whether it finishes or is interrupted,
//! the `remove-temp-dir` hook deletes the temp dir: nothing is left behind.
//! The file being written when Ctrl+C arrives is in flight (an
//! `InFlightGuard`), so draining lets it finish before the hook removes the
//! dir.
//!
//! # Exit codes
//!
//! A shell reports a command stopped by a signal as 128 + the signal number,
//! and scripts rely on it (`130` after Ctrl+C means "interrupted by the user",
//! not "done"). Even a clean cleanup does not make the work done, so:
//!
//! - finished, cleanup clean: `0`;
//! - interrupted by a signal, cleanup clean: 128 + the signal (`130` for
//!   SIGINT, `143` for SIGTERM);
//! - cleanup failed (the temp dir may be left behind): the report's failure
//!   code, `1`, whatever the reason: that is what needs attention;
//! - a second Ctrl+C during cleanup exits at once with `130`, leaving the
//!   temp dir: the user asked for it.
//!
//! Progress lines go to stderr; the tool's output and the report go to stdout.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use winddown::{Reason, Shutdown, ShutdownReport};

use crate::support::env_u64;

/// What the process exits with; see the module docs.
fn exit_code(report: &ShutdownReport) -> i32 {
    match &report.reason {
        Reason::Signal(signal) if report.is_clean() => signal.forced_exit_code(),
        _ => report.exit_code(),
    }
}

/// Writes the files one by one until done or shutting down; returns how many
/// files and bytes were written.
async fn write_files(
    shutdown: Shutdown,
    dir: PathBuf,
    files: u64,
    pause: Duration,
) -> std::io::Result<(u64, u64)> {
    let mut bytes = 0;
    for i in 1..=files {
        // Taken before the check: once draining starts, either this write is
        // counted as in flight or it never begins.
        let writing = shutdown.in_flight_guard();
        if shutdown.is_shutting_down() {
            println!("interrupted after {} files", i - 1);
            return Ok((i - 1, bytes));
        }
        let content = format!("file {i} of {files}\n").repeat(64);
        tokio::fs::write(dir.join(format!("part-{i:06}.txt")), &content).await?;
        bytes += content.len() as u64;
        drop(writing);
        println!("wrote file {i}/{files}");
        tokio::time::sleep(pause).await;
    }
    Ok((files, bytes))
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let base = std::env::var_os("TEMP_BASE").map_or_else(std::env::temp_dir, PathBuf::from);
    let files = env_u64("FILES", 500);
    let pause = Duration::from_millis(env_u64("FILE_MS", 20));

    let dir = base.join(format!("cli-tempfiles-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir(&dir) {
        eprintln!("cannot create the temp dir {}: {error}", dir.display());
        std::process::exit(2);
    }
    println!("temp dir: {}", dir.display());

    let shutdown = Shutdown::builder()
        .hook_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build();
    shutdown
        .on_cleanup("remove-temp-dir", {
            let dir = dir.clone();
            move |_ctx| async move {
                let count = count_files(&dir);
                tokio::fs::remove_dir_all(&dir).await?;
                println!("removed temp dir {} ({count} files)", dir.display());
                Ok(())
            }
        })
        .unwrap();

    let work = {
        let shutdown = shutdown.clone();
        async move {
            let (written, bytes) = write_files(shutdown, dir, files, pause).await?;
            if written == files {
                println!("done: wrote {written} files, {bytes} bytes");
            }
            Ok::<(), std::io::Error>(())
        }
    };
    let report = shutdown.run_until(work).await;
    println!("{report}");
    std::process::exit(exit_code(&report));
}
