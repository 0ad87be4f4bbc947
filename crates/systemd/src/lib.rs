//! systemd integration: the service manager learns what the shutdown is
//! doing, and the listening socket can outlive the process.
//!
//! - [`Notifier`] (sd_notify(3)): `READY=1` once serving, `STOPPING=1` at
//!   the trigger, `EXTEND_TIMEOUT_USEC` sized from the time left until the
//!   shutdown's deadline at each state, and `STATUS=` naming the state.
//!   Nothing is sent unless `NOTIFY_SOCKET` is set, so the same binary runs
//!   under systemd, Kubernetes or a terminal. Unit: `Type=notify`.
//! - [`tcp_listener_from_env`] (sd_listen_fds(3)): the listening socket of
//!   a `.socket` unit. systemd keeps it open across restarts, so clients
//!   connecting while the service restarts wait in the kernel's backlog
//!   instead of being refused.
//! - [`handoff`] (Unix): a restart on `SIGHUP` with no connection refused
//!   and none lost, without socket activation: a new process of the
//!   service takes the listening socket, and this one stops once it is
//!   ready.
//!
//! [`Notifier`] and [`tcp_listener_from_env`] do nothing on platforms other
//! than Unix.
//!
//! # Examples
//!
//! ```no_run
//! use winddown_core::Shutdown;
//! use winddown_systemd::{Notifier, tcp_listener_from_env};
//!
//! fn main() -> std::io::Result<()> {
//!     // Before the runtime's threads start: taking the socket removes
//!     // LISTEN_FDS and LISTEN_PID from the environment.
//!     let inherited = tcp_listener_from_env()?;
//!     tokio::runtime::Runtime::new()?.block_on(async {
//!         let shutdown = Shutdown::new();
//!         let listener = match inherited {
//!             Some(inherited) => tokio::net::TcpListener::from_std(inherited)?,
//!             None => tokio::net::TcpListener::bind("127.0.0.1:8080").await?,
//!         };
//!         // READY=1 now that connections are accepted; the rest follows the shutdown.
//!         Notifier::new(shutdown.clone()).spawn();
//!         let report = shutdown
//!             .run_until(async move {
//!                 // serve on `listener` here
//!                 # drop(listener);
//!                 std::future::pending::<std::io::Result<()>>().await
//!             })
//!             .await;
//!         std::process::exit(report.exit_code());
//!     })
//! }
//! ```

#[cfg(unix)]
pub mod handoff;
mod listen;
mod notify;
#[cfg(all(test, target_os = "linux"))]
mod test_child;

pub use listen::tcp_listener_from_env;
pub use notify::{DEFAULT_EXTEND_MARGIN, Notifier};
