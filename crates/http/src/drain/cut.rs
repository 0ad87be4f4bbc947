//! Watching for the end of the drain, when unfinished work must be cut.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use winddown_core::{Admission, DrainEnded};

/// Resolves when [`Shutdown::drain_ended`] fires.
///
/// The waiter is only created and registered the first time the watched
/// work is pending, so a response that completes at once never allocates
/// or touches the shared notifier. It keeps no handle of its own: the
/// request's ticket has one. `Unpin`, so that it does not make the response
/// future or body `!Unpin`.
#[derive(Default)]
pub(crate) struct Cut {
    armed: Option<DrainEnded>,
}

impl Drop for Cut {
    /// The common unarmed case is one inline test instead of a call into
    /// the waiter's drop glue.
    #[inline]
    fn drop(&mut self) {
        if let Some(armed) = self.armed.take() {
            disarm(armed);
        }
    }
}

#[cold]
#[inline(never)]
fn disarm(armed: DrainEnded) {
    drop(armed);
}

impl Cut {
    /// Whether the watched work has been pending at least once.
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Registers `cx` to be woken when the drain of `admission`'s shutdown ends; ready
    /// once it has. Always called with the same `admission`.
    pub(crate) fn poll_ended(&mut self, admission: &Admission, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(self.armed.get_or_insert_with(|| admission.drain_ended())).poll(cx)
    }
}

impl fmt::Debug for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cut")
            .field("armed", &self.armed.is_some())
            .finish()
    }
}
