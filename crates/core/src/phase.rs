//! Ordered cleanup phases.

use std::fmt;

use serde::Serialize;

/// The phase a hook runs in: an ordered number with named standard values.
///
/// Phases run in ascending order. The standard phases are spaced by 100, so a
/// component can place itself between two of them (`Phase::new(250)`) without
/// the application having to wire anything.
///
/// | phase | value | typical hooks |
/// |---|---|---|
/// | [`STOP_INTAKE`](Phase::STOP_INTAKE) | 100 | stop consuming queues, stop schedulers |
/// | [`FINISH_WORK`](Phase::FINISH_WORK) | 200 | wait for workers to finish their jobs |
/// | [`FLUSH`](Phase::FLUSH) | 300 | flush buffers, caches, outboxes |
/// | [`CLOSE`](Phase::CLOSE) | 400 | close database pools and clients (the default) |
/// | [`TELEMETRY`](Phase::TELEMETRY) | 500 | flush traces and metrics last |
///
/// # Examples
///
/// ```
/// use winddown_core::Phase;
///
/// let between = Phase::new(250);
/// assert!(Phase::FINISH_WORK < between && between < Phase::FLUSH);
/// assert_eq!(Phase::CLOSE.to_string(), "close");
/// assert_eq!(between.to_string(), "250");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Phase(u16);

impl Phase {
    /// Stop taking new work from outside (queue consumers, schedulers).
    pub const STOP_INTAKE: Phase = Phase(100);
    /// Let accepted work finish.
    pub const FINISH_WORK: Phase = Phase(200);
    /// Flush buffered data.
    pub const FLUSH: Phase = Phase(300);
    /// Close connections and pools. The default phase.
    pub const CLOSE: Phase = Phase(400);
    /// Flush telemetry last, so it includes everything before it.
    pub const TELEMETRY: Phase = Phase(500);

    /// A phase with the given order value.
    ///
    /// ```
    /// assert!(winddown_core::Phase::new(10) < winddown_core::Phase::STOP_INTAKE);
    /// ```
    pub const fn new(order: u16) -> Phase {
        Phase(order)
    }

    /// The order value.
    ///
    /// ```
    /// assert_eq!(winddown_core::Phase::FLUSH.value(), 300);
    /// ```
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The standard name of the phase, if it is one of the named ones.
    ///
    /// ```
    /// use winddown_core::Phase;
    /// assert_eq!(Phase::STOP_INTAKE.name(), Some("stop_intake"));
    /// assert_eq!(Phase::new(1).name(), None);
    /// ```
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            100 => Some("stop_intake"),
            200 => Some("finish_work"),
            300 => Some("flush"),
            400 => Some("close"),
            500 => Some("telemetry"),
            _ => None,
        }
    }
}

impl Default for Phase {
    fn default() -> Self {
        Phase::CLOSE
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
