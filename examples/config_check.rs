//! Run with `cargo run --example config_check` (or
//! `cargo run --example config_check -- path/to/app.toml`), then press Ctrl+C.
//!
//! Loads the configuration the way a winddown service does (defaults, then
//! the TOML file given as the first argument, then `APP__…` environment
//! variables), prints the effective configuration, then listens on
//! `server.addr` until SIGTERM or Ctrl+C, with the shutdown timings it read.
//!
//! A bad value stops it before anything starts: one line on stderr naming
//! the key, the value and what was expected, and exit code 78 (EX_CONFIG).
//! So does a duration over 24 h, a configuration "file" that is a
//! directory, a FIFO, unreadable or over 1 MiB (`tests/config_hardening.rs`).
//!
//! ```text
//! $ APP__SHUTDOWN__DRAIN_TIMEOUT=ten cargo run --example config_check
//! configuration error: shutdown.drain_timeout: expected a duration like "15s" or "250ms", got "ten" (from APP__SHUTDOWN__DRAIN_TIMEOUT)
//! $ echo $?
//! 78
//! ```

use std::path::PathBuf;

use tokio::net::TcpListener;
use winddown::config::{Config, LogFormat};

#[tokio::main]
async fn main() {
    let file = std::env::args_os().nth(1).map(PathBuf::from);
    // Prints the error and exits with 78 if anything is wrong.
    let config = Config::load_or_exit(file.as_deref());

    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        LogFormat::Json => logs.json().init(),
        _ => logs.init(),
    }
    // The budget was checked while loading, before logging was set up: log
    // its warnings now.
    let _ = config.check_budget();

    println!("{config}");
    let listener = match TcpListener::bind(config.server.addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", config.server.addr);
            std::process::exit(1);
        }
    };
    let shutdown = config.shutdown.builder().build();
    // Signals start the graceful shutdown from here on, before "listening".
    shutdown
        .listen_for_signals()
        .expect("signal handlers install");
    println!("listening on {}", listener.local_addr().unwrap());

    let draining = shutdown.draining();
    let report = shutdown
        .run_until(async move {
            tokio::pin!(draining);
            loop {
                tokio::select! {
                    () = &mut draining => return Ok::<(), std::io::Error>(()),
                    accepted = listener.accept() => drop(accepted?),
                }
            }
        })
        .await;
    println!("{report}");
    std::process::exit(report.exit_code());
}
