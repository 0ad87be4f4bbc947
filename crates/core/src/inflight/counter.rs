//! The in-flight count word: the count and a waiting mark, lock-free.

use std::sync::atomic::Ordering;

use tokio::sync::Notify;

use crate::loom::AtomicUsize;

/// Set in the count word once someone waits for the count to reach zero.
const WAITING: usize = 1 << (usize::BITS - 1);

/// Set in the count word once draining has started: from then on
/// [`try_enter`](Counter::try_enter) refuses.
const CLOSED: usize = 1 << (usize::BITS - 2);

/// The count itself, without the marks.
const COUNT: usize = !(WAITING | CLOSED);

/// How many units of work are in flight, whether anyone waits for zero, and
/// whether new work is still admitted.
///
/// The waiting mark lives in the same word as the count, so that an exit and
/// [`mark_waiting`](Self::mark_waiting) are ordered by that word alone: either
/// the mark comes first and the exit that reaches zero sees it (and wakes the
/// waiter), or the exit comes first and the mark sees zero. Until someone
/// waits, an exit is one atomic operation and wakes no one.
///
/// The closed mark is there for the same reason: [`try_enter`](Self::try_enter)
/// counts and learns whether draining has started in one operation on one
/// word, so an admitted unit is always in the count the drain waits for,
/// and admission costs no more than counting.
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
        self.count.load(Ordering::SeqCst) & COUNT
    }

    #[inline]
    pub(crate) fn enter(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts one unit unless the counter is [closed](Self::close): then
    /// nothing stays counted and it returns `Err` with what the undoing exit
    /// returned (`true`: it must wake the waiter, as for [`exit`](Self::exit)).
    #[inline]
    pub(crate) fn try_enter(&self) -> Result<(), bool> {
        if self.count.fetch_add(1, Ordering::SeqCst) & CLOSED != 0 {
            return Err(self.exit());
        }
        Ok(())
    }

    /// Returns `true` for the exit that brought the count to zero after a
    /// waiter was marked: that exit must wake the waiter.
    #[inline]
    pub(crate) fn exit(&self) -> bool {
        self.count.fetch_sub(1, Ordering::SeqCst) & !CLOSED == WAITING | 1
    }

    /// Refuses every later [`try_enter`](Self::try_enter). Idempotent.
    pub(crate) fn close(&self) {
        self.count.fetch_or(CLOSED, Ordering::SeqCst);
    }

    /// Marks that someone waits for zero; returns the count at that moment.
    #[inline]
    pub(crate) fn mark_waiting(&self) -> usize {
        self.count.fetch_or(WAITING, Ordering::SeqCst) & COUNT
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

    /// Counts one unit unless draining has started (`false`, nothing counted).
    #[inline]
    pub(crate) fn try_enter(&self) -> bool {
        match self.count.try_enter() {
            Ok(()) => true,
            Err(wake) => {
                if wake {
                    self.idle.notify_waiters();
                }
                false
            }
        }
    }

    #[inline]
    pub(crate) fn exit(&self) {
        if self.count.exit() {
            self.idle.notify_waiters();
        }
    }

    /// Refuses every later [`try_enter`](Self::try_enter).
    pub(crate) fn close(&self) {
        self.count.close();
    }

    /// Resolves once the count is zero. Cancel safe.
    pub(crate) async fn wait_idle(&self) {
        // The mark comes after registering: the exit that sees the mark and
        // reaches zero wakes this waiter.
        crate::wait::until_notified(&self.idle, || self.count.mark_waiting() == 0).await;
    }
}
