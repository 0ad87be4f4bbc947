//! The in-flight count word: the count and a waiting mark, lock-free.

use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use crate::loom::AtomicUsize;

/// Set in the count word once someone waits for the count to reach zero.
const WAITING: usize = 1 << (usize::BITS - 1);

/// How many units of work are in flight, and whether anyone waits for zero.
///
/// The waiting mark lives in the same word as the count, so that an exit and
/// [`mark_waiting`](Self::mark_waiting) are ordered by that word alone: either
/// the mark comes first and the exit that reaches zero sees it (and wakes the
/// waiter), or the exit comes first and the mark sees zero. Until someone
/// waits, an exit is one atomic operation and wakes no one.
///
/// Every operation is `SeqCst`, for the reason given on the state cell: the
/// HTTP layer counts a request and then reads the state, the drain publishes
/// the state and then reads the count.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    count: AtomicUsize,
}

impl Counter {
    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst) & !WAITING
    }

    #[inline]
    pub(crate) fn enter(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Returns `true` for the exit that brought the count to zero after a
    /// waiter was marked: that exit must wake the waiter.
    #[inline]
    pub(crate) fn exit(&self) -> bool {
        self.count.fetch_sub(1, Ordering::SeqCst) == WAITING | 1
    }

    /// Marks that someone waits for zero; returns the count at that moment.
    #[inline]
    pub(crate) fn mark_waiting(&self) -> usize {
        self.count.fetch_or(WAITING, Ordering::SeqCst) & !WAITING
    }
}

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

    #[inline]
    pub(crate) fn enter(&self) {
        self.count.enter();
    }

    #[inline]
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
