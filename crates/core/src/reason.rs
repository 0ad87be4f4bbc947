//! Why shutdown started.

use std::fmt;

use serde::Serialize;

use crate::Signal;

/// Why the shutdown sequence started.
///
/// # Examples
///
/// ```
/// use winddown_core::{Reason, Signal};
///
/// assert_eq!(Reason::Signal(Signal::Terminate).to_string(), "signal SIGTERM");
/// assert_eq!(Reason::Manual.to_string(), "manual trigger");
/// assert_eq!(Reason::HandedOff { pid: 42 }.to_string(), "handed off to pid 42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Reason {
    /// A process signal arrived.
    Signal(Signal),
    /// [`Shutdown::trigger`](crate::Shutdown::trigger) was called.
    Manual,
    /// The service future returned on its own, without an error.
    ServiceExited,
    /// A fatal error; the text says what it was.
    Fatal(String),
    /// A new process of the service took over the listening socket and is
    /// ready (a hand-off restart): this one stops accepting at the trigger
    /// and leaves the connections queued in the kernel to the new one.
    HandedOff {
        /// The new process's id.
        pid: u32,
    },
}

impl Reason {
    /// Whether this reason is a failure in itself (a fatal error).
    ///
    /// ```
    /// assert!(winddown_core::Reason::Fatal("db gone".into()).is_failure());
    /// assert!(!winddown_core::Reason::Manual.is_failure());
    /// ```
    pub fn is_failure(&self) -> bool {
        matches!(self, Reason::Fatal(_))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Signal(signal) => write!(f, "signal {signal}"),
            Reason::Manual => f.write_str("manual trigger"),
            Reason::ServiceExited => f.write_str("service exited"),
            Reason::Fatal(message) => write!(f, "fatal error: {message}"),
            Reason::HandedOff { pid } => write!(f, "handed off to pid {pid}"),
        }
    }
}
