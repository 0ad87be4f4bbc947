//! The signal listener: the first signal triggers shutdown, a second one
//! exits at once.
//!
//! On Unix every [`Signal`] is handled (`unix.rs`). Elsewhere only
//! [`Signal::Interrupt`] is, through `tokio::signal::ctrl_c` (Ctrl+C in a
//! console); the other signals do not exist there and are skipped with a
//! debug line (`other.rs`).

use std::fmt;
use std::io;

use serde::Serialize;
use tracing::{error, info};

use crate::{Reason, Shutdown};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix::listen_one;

#[cfg(not(unix))]
mod other;
#[cfg(not(unix))]
use other::listen_one;

/// A process signal that can trigger shutdown.
///
/// # Examples
///
/// ```
/// use winddown_core::Signal;
///
/// assert_eq!(Signal::Interrupt.number(), 2);
/// assert_eq!(Signal::Terminate.forced_exit_code(), 143);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT` (Ctrl+C).
    #[serde(rename = "SIGINT")]
    Interrupt,
    /// `SIGTERM` (what Kubernetes, systemd and `kill` send).
    #[serde(rename = "SIGTERM")]
    Terminate,
    /// `SIGHUP`.
    #[serde(rename = "SIGHUP")]
    Hangup,
    /// `SIGQUIT`.
    #[serde(rename = "SIGQUIT")]
    Quit,
}

impl Signal {
    /// The signal number on Linux and the BSDs.
    ///
    /// ```
    /// assert_eq!(winddown_core::Signal::Terminate.number(), 15);
    /// ```
    pub const fn number(self) -> i32 {
        match self {
            Signal::Hangup => 1,
            Signal::Interrupt => 2,
            Signal::Quit => 3,
            Signal::Terminate => 15,
        }
    }

    /// The exit code a shell reports for a process killed by this signal:
    /// 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
    ///
    /// ```
    /// assert_eq!(winddown_core::Signal::Interrupt.forced_exit_code(), 130);
    /// ```
    pub const fn forced_exit_code(self) -> i32 {
        128 + self.number()
    }

    /// The conventional name, like `SIGTERM`.
    ///
    /// ```
    /// assert_eq!(winddown_core::Signal::Hangup.name(), "SIGHUP");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Signal::Hangup => "SIGHUP",
            Signal::Interrupt => "SIGINT",
            Signal::Quit => "SIGQUIT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Installs a handler for each signal and spawns the tasks that listen.
///
/// Must run inside a tokio runtime. Every handler is installed before any
/// task is spawned, so an error leaves nothing half-installed.
pub(crate) fn listen(
    shutdown: &Shutdown,
    signals: &[Signal],
    second_exits: bool,
) -> io::Result<()> {
    let mut streams = Vec::with_capacity(signals.len());
    for &sig in signals {
        if let Some(stream) = listen_one(sig)? {
            streams.push((sig, stream));
        }
    }
    for (sig, mut stream) in streams {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            while stream.recv().await {
                on_signal(&shutdown, sig, second_exits);
            }
        });
    }
    Ok(())
}

fn on_signal(shutdown: &Shutdown, sig: Signal, second_exits: bool) {
    // Only a second signal forces the exit: the first one after a shutdown
    // started from code (a hand-off, a failed service, `trigger`) lets that
    // shutdown go on.
    let first = !shutdown
        .inner
        .signal_received
        .swap(true, std::sync::atomic::Ordering::AcqRel);
    if shutdown.trigger_with(Reason::Signal(sig)) {
        info!(target: "winddown", signal = sig.name(), "received {sig}: shutting down");
    } else if first {
        info!(
            target: "winddown",
            signal = sig.name(),
            "received {sig} while shutting down ({}): the shutdown goes on",
            shutdown.state()
        );
    } else if second_exits {
        let code = sig.forced_exit_code();
        error!(
            target: "winddown",
            signal = sig.name(),
            exit_code = code,
            "received {sig} while shutting down ({}): exiting now with {code}",
            shutdown.state()
        );
        eprintln!("winddown: second signal ({sig}) while shutting down: forced exit {code}");
        std::process::exit(code);
    } else {
        info!(target: "winddown", signal = sig.name(), "received {sig} again: already shutting down");
    }
}
