//! The lock-free core of the state machine: one atomic state that only moves
//! forward, and the in-flight counter.

use std::sync::atomic::Ordering;

use crate::State;
use crate::loom::{AtomicU8, AtomicUsize};

/// The current state as one atomic byte. It only moves forward.
///
/// Every operation here and on [`Counter`] is `SeqCst`: the HTTP layer counts
/// a request and then reads the state, while the drain publishes the state and
/// then reads the count. Only a single total order guarantees that one of the
/// two sees the other (a request is either refused or waited for). On x86 a
/// `SeqCst` load is a plain load, so `is_shutting_down` costs nothing more.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    state: AtomicU8,
}

impl Lifecycle {
    pub(crate) fn new() -> Self {
        Lifecycle {
            state: AtomicU8::new(State::Running.as_u8()),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> State {
        State::from_u8(self.state.load(Ordering::SeqCst)).unwrap_or(State::Done)
    }

    #[inline]
    pub(crate) fn is_triggered(&self) -> bool {
        self.state.load(Ordering::SeqCst) != State::Running.as_u8()
    }

    /// Running → Announcing; `true` only for the one caller that moved it.
    pub(crate) fn try_trigger(&self) -> bool {
        self.state
            .compare_exchange(
                State::Running.as_u8(),
                State::Announcing.as_u8(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// Moves to `to` if that is forward; returns whether it moved.
    pub(crate) fn advance(&self, to: State) -> bool {
        let to = to.as_u8();
        let mut current = self.state.load(Ordering::SeqCst);
        loop {
            if current >= to {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(current, to, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}

/// Set in the count word once someone waits for the count to reach zero.
const WAITING: usize = 1 << (usize::BITS - 1);

/// How many units of work are in flight, and whether anyone waits for zero.
///
/// The waiting mark lives in the same word as the count, so that an exit and
/// [`mark_waiting`](Self::mark_waiting) are ordered by that word alone: either
/// the mark comes first and the exit that reaches zero sees it (and wakes the
/// waiter), or the exit comes first and the mark sees zero. Until someone
/// waits, an exit is one atomic operation and wakes no one.
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
