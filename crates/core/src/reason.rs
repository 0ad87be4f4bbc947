//! Why shutdown started.

use std::fmt;

use serde::Serialize;

/// Why the shutdown sequence started.
///
/// # Examples
///
/// ```
/// use winddown_core::{Reason, Signal};
///
/// assert_eq!(Reason::Signal(Signal::Terminate).to_string(), "signal SIGTERM");
/// assert_eq!(Reason::Manual.to_string(), "manual trigger");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        }
    }
}

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
