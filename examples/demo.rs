//! The demo: a service that shows a full graceful shutdown on its own.
//!
//! Run with `cargo run --example demo`.
//!
//! It starts a service with in-flight work and three hooks, sends itself a real
//! SIGTERM after one second, and prints every step of the shutdown sequence
//! and the report. Pass `--wait` to wait for your own Ctrl+C instead.

use std::time::Duration;

use winddown::{Phase, Shutdown, hook_fn};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_target(false).init();
    let shutdown = Shutdown::builder()
        .announce_delay(Duration::from_millis(500))
        .drain_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build();

    shutdown
        .register(
            hook_fn("stop-consumer", |_| async {
                tokio::time::sleep(Duration::from_millis(120)).await;
                Ok(())
            })
            .phase(Phase::STOP_INTAKE),
        )
        .unwrap();
    shutdown
        .register(
            hook_fn("flush-outbox", |_| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(())
            })
            .phase(Phase::FLUSH),
        )
        .unwrap();
    shutdown
        .on_cleanup("close-database", |_| async {
            tokio::time::sleep(Duration::from_millis(1001)).await;
            Ok(())
        })
        .unwrap();

    // A job that is running when the signal arrives: draining waits for it.
    shutdown.spawn(async {
        tokio::time::sleep(Duration::from_millis(1800)).await;
        tracing::info!("in-flight job finished");
    });

    if !std::env::args().any(|a| a == "--wait") {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            tracing::info!(
                "demo: sending SIGTERM to myself (pid {})",
                std::process::id()
            );
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(std::process::id().to_string())
                .status();
        });
    }

    let service = {
        let shutdown = shutdown.clone();
        async move {
            tracing::info!("service running; state = {}", shutdown.state());
            shutdown.draining().await;
            tracing::info!("service: intake stopped");
            Ok::<(), std::io::Error>(())
        }
    };
    let report = shutdown.run_until(service).await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
