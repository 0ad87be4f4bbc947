//! Why a hand-off did not happen.

use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use winddown_core::Reason;

/// Why a [hand-off](super::Handoff::hand_off) did not happen; this process
/// keeps serving (unless it is shutting down).
#[derive(Debug)]
#[non_exhaustive]
///
/// See [`Handoff::hand_off`](super::Handoff::hand_off) for an example.
pub enum HandoffError {
    /// The shutdown had started (or started while waiting): no hand-off.
    ShuttingDown(Reason),
    /// The new process could not be started (or its readiness socket
    /// created).
    Start(io::Error),
    /// The new process exited before reporting ready.
    Exited(ExitStatus),
    /// The new process did not report ready within the ready timeout; it
    /// was stopped.
    NotReady(Duration),
}

impl fmt::Display for HandoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffError::ShuttingDown(reason) => {
                write!(f, "the shutdown has started ({reason}); no hand-off")
            }
            HandoffError::Start(error) => write!(f, "cannot start the new process: {error}"),
            HandoffError::Exited(status) => write!(
                f,
                "the new process exited before reporting ready ({status}); see its log"
            ),
            HandoffError::NotReady(timeout) => write!(
                f,
                "the new process did not report ready within {}; it was stopped",
                humantime_like(*timeout)
            ),
        }
    }
}

impl std::error::Error for HandoffError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandoffError::Start(error) => Some(error),
            _ => None,
        }
    }
}

/// `1.5s`, `250ms`.
fn humantime_like(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}
