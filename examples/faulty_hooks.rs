//! Faulty hooks under a real SIGTERM: one hangs, one panics, one fails, one
//! is cut at its deadline and says what it left undone, one ignores its
//! cancellation token; the rest still run and the report says exactly what
//! happened.
//!
//! Run with `cargo run --example faulty_hooks`, then send SIGTERM or press Ctrl+C.
//!
//! `GLOBAL_TIMEOUT_MS` (default 10000) sets the global deadline; with a small
//! one (e.g. 600) the deadline cuts the hooks short and skips the rest.
//! `BLOCK_MS` (default 0: none) adds a hook that blocks its thread that long
//! (`std::thread::sleep`), after the one that panics.
//! The report is printed as a table and, on a line starting with
//! `report-json: `, as JSON.

mod support;

use std::time::Duration;

use winddown::{BoxError, Phase, Shutdown, hook_fn};

use crate::support::env_ms;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    let shutdown = Shutdown::builder()
        .timeout(env_ms("GLOBAL_TIMEOUT_MS", 10_000))
        .hook_timeout(Duration::from_secs(5))
        .build();

    shutdown
        .register(
            hook_fn("hangs", |_| std::future::pending::<Result<(), BoxError>>())
                .phase(Phase::STOP_INTAKE)
                .timeout(env_ms("HANG_TIMEOUT_MS", 300)),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("panics", |_| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                panic!("the queue client panicked");
            })
            .phase(Phase::FINISH_WORK),
        )
        .unwrap();
    let block = env_ms("BLOCK_MS", 0);
    if !block.is_zero() {
        shutdown
            .register(
                hook_fn("blocks", move |_| async move {
                    std::thread::sleep(block);
                    Ok(())
                })
                .phase(Phase::FINISH_WORK),
            )
            .unwrap();
    }
    shutdown
        .register(
            hook_fn("fails", |_| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err::<(), BoxError>("flush refused: broker unavailable".into())
            })
            .phase(Phase::FLUSH),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("reacts", |ctx| async move {
                // Stops when asked and says what it left undone.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => Ok(()),
                    _ = ctx.cancelled() => Err("cut, 12 records not flushed".into()),
                }
            })
            .phase(Phase::FLUSH)
            .timeout(env_ms("REACT_TIMEOUT_MS", 100)),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("ignores-token", |_ctx| async {
                // Never looks at ctx.token(): dropped once its grace is over.
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .phase(Phase::CLOSE)
            .timeout(env_ms("IGNORE_TIMEOUT_MS", 200)),
        )
        .unwrap();
    shutdown
        .register(hook_fn("runs-last", |_| async { Ok(()) }).phase(Phase::TELEMETRY))
        .unwrap();

    let service = {
        let shutdown = shutdown.clone();
        async move {
            println!("ready pid={}", std::process::id());
            shutdown.draining().await;
            Ok::<(), std::io::Error>(())
        }
    };
    let report = shutdown.run_until(service).await;
    println!("{report}");
    println!("report-json: {}", serde_json::to_string(&report).unwrap());
    std::process::exit(report.exit_code());
}
