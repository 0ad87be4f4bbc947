//! A service with three shutdown hooks in three phases, driven by real signals.
//!
//! Run with `cargo run --example hooks`, then press Ctrl+C (or send SIGTERM).
//! Press Ctrl+C again during the slow hook to exit at once with 130.
//!
//! `SLOW_HOOK_MS` sets how long the "flush-cache" hook takes (default 1000).
//! Each hook prints a line to stdout when it starts and ends; the progress
//! lines and the report go to stderr and stdout.

use std::io::Write;
use std::time::Duration;

use winddown::{Phase, Shutdown, hook_fn};

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn hook(name: &'static str, phase: Phase, sleep: Duration) -> impl winddown::ShutdownHook {
    hook_fn(name, move |_ctx| async move {
        say(&format!("hook {name} start"));
        tokio::time::sleep(sleep).await;
        say(&format!("hook {name} end"));
        Ok(())
    })
    .phase(phase)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let slow = std::env::var("SLOW_HOOK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis);

    let shutdown = Shutdown::builder()
        .timeout(Duration::from_secs(30))
        .hook_timeout(Duration::from_secs(20))
        .build();
    // Registered out of order on purpose: phases order them.
    shutdown
        .register(hook("close-db", Phase::CLOSE, Duration::from_millis(50)))
        .unwrap();
    shutdown
        .register(hook("flush-cache", Phase::FLUSH, slow))
        .unwrap();
    shutdown
        .register(hook(
            "stop-consumer",
            Phase::STOP_INTAKE,
            Duration::from_millis(50),
        ))
        .unwrap();

    let service = {
        let shutdown = shutdown.clone();
        async move {
            say(&format!("ready pid={}", std::process::id()));
            shutdown.draining().await;
            Ok::<(), std::io::Error>(())
        }
    };
    let report = shutdown.run_until(service).await;
    say(&report.to_string());
    std::process::exit(report.exit_code());
}
