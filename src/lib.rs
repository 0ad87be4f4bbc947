//! Graceful shutdown for tokio, tower, hyper and axum services.
//!
//! This is the facade crate: it re-exports the core lifecycle
//! ([`Shutdown`], [`ShutdownHook`], [`ShutdownReport`], …) and, behind
//! features, the HTTP layer, the server helper, the Prometheus glue, the
//! configuration loader, the gRPC (tonic) glue, the systemd integration
//! (`systemd`) and drain-aware WebSockets (`ws`).
//!
//! # Examples
//!
//! ```
//! use winddown::{Shutdown, Phase};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let shutdown = Shutdown::builder().no_signals().build();
//! shutdown.on_cleanup("database", |_ctx| async { Ok(()) }).unwrap();
//! shutdown.trigger();
//! let report = shutdown.run().await;
//! assert_eq!(report.exit_code(), 0);
//! # }
//! ```

#[cfg(all(feature = "prometheus", feature = "config"))]
mod configured;

#[cfg(all(feature = "prometheus", feature = "config"))]
pub use configured::final_export;
#[cfg(feature = "config")]
pub use winddown_config as config;
pub use winddown_core::*;
#[cfg(feature = "grpc")]
pub use winddown_grpc as grpc;
#[cfg(feature = "http")]
pub use winddown_http as http;
#[cfg(feature = "prometheus")]
pub use winddown_prometheus as prometheus;
#[cfg(feature = "server")]
pub use winddown_server as server;
#[cfg(feature = "systemd")]
pub use winddown_systemd as systemd;

/// The README's code, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
