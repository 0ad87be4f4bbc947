//! Watching for the end of the drain, when unfinished work must be cut.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::WaitForCancellationFutureOwned;
use winddown_core::Shutdown;

/// Resolves when [`Shutdown::drain_ended`] fires.
///
/// The waiter is only created and registered the first time the watched
/// work is pending, so a response that completes at once never allocates
/// or touches the shared notifier. `Unpin`, so that it does not make the
/// response future or body `!Unpin`.
pub(crate) struct Cut {
    shutdown: Shutdown,
    armed: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
}

impl Cut {
    pub(crate) fn new(shutdown: Shutdown) -> Self {
        Cut {
            shutdown,
            armed: None,
        }
    }

    pub(crate) fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Whether the drain has ended: a single atomic load.
    pub(crate) fn has_ended(&self) -> bool {
        self.shutdown.is_drain_ended()
    }

    /// Registers `cx` to be woken when the drain ends; ready once it has.
    pub(crate) fn poll_ended(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let shutdown = &self.shutdown;
        self.armed
            .get_or_insert_with(|| Box::pin(shutdown.drain_ended()))
            .as_mut()
            .poll(cx)
    }
}

impl fmt::Debug for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cut")
            .field("drain_ended", &self.has_ended())
            .finish()
    }
}
