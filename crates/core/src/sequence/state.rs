//! The states of the shutdown sequence.

use std::fmt;

use serde::Serialize;

/// A state of the shutdown sequence.
///
/// The sequence only moves forward:
///
/// ```text
/// Running --trigger--> Announcing --announce_delay--> Draining --drained or drain_timeout--> Cleanup --> Done
/// ```
///
/// The numeric value ([`State::as_u8`]) is what the `winddown_state` gauge
/// reports.
///
/// # Examples
///
/// ```
/// use winddown_core::State;
///
/// assert!(State::Running < State::Draining);
/// assert_eq!(State::Cleanup.as_u8(), 3);
/// assert_eq!(State::Draining.to_string(), "draining");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Serving normally; shutdown has not been triggered.
    Running = 0,
    /// Triggered: readiness fails, but traffic is still served so that load
    /// balancers can take the instance out of rotation.
    Announcing = 1,
    /// New non-exempt work is refused; in-flight work is finishing.
    Draining = 2,
    /// Shutdown hooks are running.
    Cleanup = 3,
    /// Everything has finished; the process may exit.
    Done = 4,
}

impl State {
    /// The state's numeric value (0 running … 4 done).
    ///
    /// ```
    /// assert_eq!(winddown_core::State::Announcing.as_u8(), 1);
    /// ```
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The state for a numeric value, if there is one.
    ///
    /// ```
    /// use winddown_core::State;
    /// assert_eq!(State::from_u8(2), Some(State::Draining));
    /// assert_eq!(State::from_u8(9), None);
    /// ```
    pub const fn from_u8(value: u8) -> Option<State> {
        match value {
            0 => Some(State::Running),
            1 => Some(State::Announcing),
            2 => Some(State::Draining),
            3 => Some(State::Cleanup),
            4 => Some(State::Done),
            _ => None,
        }
    }

    /// The lower-case name used in logs and reports.
    ///
    /// ```
    /// assert_eq!(winddown_core::State::Done.as_str(), "done");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Announcing => "announcing",
            State::Draining => "draining",
            State::Cleanup => "cleanup",
            State::Done => "done",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
