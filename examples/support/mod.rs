//! What the examples share: their settings from the environment, and the
//! state lines the HTTP examples print as the sequence goes.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use winddown::{Shutdown, State};

/// The whole number in the environment variable `name`, or `default` when
/// it is not set. Anything else is one clear line and exit 2.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(value) => value.parse().unwrap_or_else(|_| {
            eprintln!("{name}: expected a whole number, got {value:?}");
            std::process::exit(2);
        }),
    }
}

/// [`env_u64`] as milliseconds.
pub fn env_ms(name: &str, default: u64) -> Duration {
    Duration::from_millis(env_u64(name, default))
}

/// `ADDR`, or `127.0.0.1:$PORT` (`PORT` 0 by default: a free port).
pub fn addr() -> String {
    std::env::var("ADDR").unwrap_or_else(|_| {
        let port = std::env::var("PORT").unwrap_or_else(|_| "0".to_owned());
        format!("127.0.0.1:{port}")
    })
}

/// Prints `state: <state> (requests in flight: N)` as the sequence enters
/// announcing, draining and cleanup.
pub fn print_progress(shutdown: &Shutdown) {
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        for state in [State::Announcing, State::Draining, State::Cleanup] {
            shutdown.reached(state).await;
            println!(
                "state: {state} (requests in flight: {})",
                shutdown.in_flight_count()
            );
        }
    });
}

/// The handle the HTTP and gRPC examples share: `ANNOUNCE_MS` (default
/// 1000) and `DRAIN_TIMEOUT_MS` (default 10000) from the environment, a
/// 25 s deadline, and one cleanup hook named `hook` that takes 100 ms.
pub fn service_shutdown(hook: &str) -> Shutdown {
    let shutdown = Shutdown::builder()
        .announce_delay(env_ms("ANNOUNCE_MS", 1000))
        .drain_timeout(env_ms("DRAIN_TIMEOUT_MS", 10_000))
        .timeout(Duration::from_secs(25))
        .build();
    shutdown
        .on_cleanup(hook, |_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(())
        })
        .expect("registered before shutdown");
    shutdown
}
