//! Counting in-flight work: the guard taken when a unit of work starts.

use std::fmt;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::lifecycle::Counter;
use crate::shutdown::Inner;

/// The in-flight counter shared by every guard of one [`Shutdown`](crate::Shutdown).
#[derive(Default)]
pub(crate) struct InFlight {
    count: Counter,
    idle: Notify,
}

impl InFlight {
    pub(crate) fn count(&self) -> usize {
        self.count.get()
    }

    pub(crate) fn enter(&self) {
        self.count.enter();
    }

    pub(crate) fn exit(&self) {
        if self.count.exit() {
            self.idle.notify_waiters();
        }
    }

    /// Resolves once the count is zero. Cancel safe.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Registered before the mark: the exit that sees the mark and
            // reaches zero wakes this waiter.
            if self.count.mark_waiting() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A unit of in-flight work: counted from creation until drop.
///
/// Draining waits until every guard of the [`Shutdown`](crate::Shutdown) has
/// been dropped (or the drain timeout passes, in which case the guards still
/// alive are counted as abandoned). The HTTP layer takes one per request and
/// keeps it in the response body, so a streaming response holds the drain
/// open until its last byte.
///
/// # Examples
///
/// ```
/// use winddown_core::Shutdown;
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// let guard = shutdown.in_flight();
/// assert_eq!(shutdown.in_flight_count(), 1);
/// drop(guard);
/// assert_eq!(shutdown.in_flight_count(), 0);
/// ```
#[must_use = "the work counts as in flight only while the guard is alive"]
pub struct InFlightGuard {
    inner: Arc<Inner>,
}

impl InFlightGuard {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        inner.in_flight.enter();
        InFlightGuard { inner }
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.inner.in_flight.exit();
    }
}

impl fmt::Debug for InFlightGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard")
            .field("in_flight", &self.inner.in_flight.count())
            .finish()
    }
}
