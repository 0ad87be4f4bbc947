//! The core of winddown: the shutdown state machine, ordered async hooks,
//! signals and the shutdown report. No HTTP in here.
//!
//! A [`Shutdown`] handle owns one sequence:
//!
//! ```text
//! Running --trigger--> Announcing --announce_delay--> Draining --drained or drain_timeout--> Cleanup --> Done
//! ```
//!
//! - **Triggers**: SIGTERM / SIGINT (a second signal exits at once with 143 /
//!   130), or [`Shutdown::trigger`] from anywhere.
//! - **Draining** waits for [`InFlightGuard`]s, requests admitted by the
//!   [`RequestGate`] and tasks spawned with [`Shutdown::spawn`], up to the
//!   drain timeout.
//! - **Cleanup** runs [`ShutdownHook`]s by [`Phase`], each under its own
//!   timeout, fail-safe.
//! - One global deadline bounds it all; the result is a [`ShutdownReport`]
//!   with an exit code.
//!
//! Progress (one line per hook, like `cleanup 1/2 done (1.001s)`, and the
//! summary) is logged through `tracing` under the `winddown` target; install
//! a subscriber to see it (`tracing_subscriber::fmt().init()`), or print the
//! report, which displays as a table. The library never installs one itself.
//!
//! Signals are Unix signals; off Unix only Ctrl+C (SIGINT) is listened to,
//! through `tokio::signal::ctrl_c`.
//!
//! Where each concept lives: the handle in `shutdown/`, its settings and
//! builder in `settings.rs` (defaults in [`defaults`]), the states and the
//! driver in `sequence/`, the futures in `future.rs`, in-flight counting in
//! `inflight/`, hooks in `hook/` and their runner in `runner/`, signals in
//! `signal/`, the report and its log lines in `report/`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use winddown_core::{Phase, Shutdown, hook_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::builder()
//!     .no_signals()
//!     .drain_timeout(Duration::from_secs(5))
//!     .build();
//!
//! shutdown
//!     .register(hook_fn("stop-consumer", |_| async { Ok(()) }).phase(Phase::STOP_INTAKE))
//!     .unwrap();
//! shutdown.on_cleanup("database", |_| async {
//!     tokio::time::sleep(Duration::from_millis(300)).await;
//!     Ok(())
//! })
//! .unwrap();
//!
//! // A request that is still running when shutdown starts.
//! let request = shutdown.in_flight_guard();
//! tokio::spawn(async move {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     drop(request);
//! });
//!
//! shutdown.trigger();
//! let report = shutdown.run().await;
//! assert_eq!(report.drain, Duration::from_secs(1));
//! assert_eq!(report.hooks[0].name, "stop-consumer");
//! assert_eq!(report.hooks[1].duration, Duration::from_millis(300));
//! assert_eq!(report.exit_code(), 0);
//! # }
//! ```

mod before_done;
pub mod defaults;
mod error;
mod future;
mod gate;
mod hook;
mod inflight;
mod loom;
#[cfg(feature = "metrics")]
pub mod metric_names;
mod phase;
mod reason;
mod report;
mod runner;
mod sequence;
mod settings;
mod shutdown;
mod signal;
pub mod text;
mod wait;

#[cfg(all(test, winddown_loom))]
mod tests {
    mod loom_lifecycle;
}

pub use error::{BoxError, RegisterError};
pub use future::{DrainEnded, StateReached};
pub use gate::{Admission, RequestGate};
pub use hook::{FnHook, HookContext, ShutdownHook, hook_fn};
pub use inflight::InFlightGuard;
pub use phase::Phase;
pub use reason::Reason;
pub use report::{HookOutcome, HookRecord, ShutdownReport};
pub use sequence::State;
pub use settings::{Settings, ShutdownBuilder};
pub use shutdown::Shutdown;
pub use signal::Signal;
pub use tokio_util::sync::CancellationToken;
