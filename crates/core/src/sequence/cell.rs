//! The lock-free cell of the state machine: one atomic state that only moves
//! forward.

use std::sync::atomic::Ordering;

use crate::State;
use crate::loom::AtomicU8;

/// The current state as one atomic byte. It only moves forward.
///
/// Every operation here is `SeqCst`, the simplest order to reason about; on
/// x86 a `SeqCst` load is a plain load, so `is_shutting_down` costs nothing
/// more. (Admission no longer depends on it: requests are admitted through
/// the request gate, whose argument is in `gate.rs`, and guards through the
/// closed mark of the in-flight counter.)
#[derive(Debug)]
pub(crate) struct StateCell {
    state: AtomicU8,
}

impl StateCell {
    pub(crate) fn new() -> Self {
        StateCell {
            state: AtomicU8::new(State::Running.as_u8()),
        }
    }

    #[inline]
    pub(crate) fn load(&self) -> State {
        State::from_u8(self.state.load(Ordering::SeqCst)).unwrap_or(State::Done)
    }

    /// Whether the state is `Draining` or later.
    #[inline]
    pub(crate) fn is_draining(&self) -> bool {
        self.state.load(Ordering::SeqCst) >= State::Draining.as_u8()
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
