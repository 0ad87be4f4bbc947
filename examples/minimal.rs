//! Run with `cargo run --example minimal`, then press Ctrl+C (or send SIGTERM).
//!
//! The README's smallest program, as it is there: it prints each hook's
//! progress line and the report.

use winddown::Shutdown;

#[tokio::main]
async fn main() {
    // winddown logs its progress through `tracing`; this shows it.
    tracing_subscriber::fmt().init();
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals().unwrap();
    shutdown
        .on_cleanup("database", |_ctx| async { Ok(()) })
        .unwrap();
    let report = shutdown.run_until(serve(shutdown.clone())).await;
    println!("{report}");
    std::process::exit(report.exit_code());
}

async fn serve(shutdown: Shutdown) -> std::io::Result<()> {
    println!("serving: press Ctrl+C to stop");
    shutdown.draining().await; // stop taking new work once draining
    Ok(())
}
