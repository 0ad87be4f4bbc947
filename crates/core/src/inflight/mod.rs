//! Counting in-flight work: the guard taken when a unit of work starts.
//!
//! The guard is the public face; the lock-free count word and the wait for
//! zero live in `counter.rs`.

mod counter;

#[cfg(all(test, winddown_loom))]
pub(crate) use counter::Counter;
pub(crate) use counter::InFlight;

use std::fmt;

use crate::Shutdown;

/// A unit of in-flight work: counted from creation until drop.
///
/// Draining waits until every guard of the [`Shutdown`] has been dropped (or
/// the drain timeout passes, in which case the guards still alive are
/// counted as abandoned). A WebSocket or a background job takes one; a
/// server that admits requests uses the [`RequestGate`](crate::RequestGate)
/// instead, as the HTTP layer does (one per request, kept in the response
/// body, so a streaming response holds the drain open until its last byte).
///
/// A guard keeps its `Shutdown` alive through an owner `O`: the handle
/// itself by default ([`Shutdown::in_flight_guard`]), or with
/// [`InFlightGuard::new`] any value that leads to one, so that a middleware
/// that already shares its settings and handle behind one `Arc` takes a
/// guard without cloning the handle as well.
///
/// # Examples
///
/// ```
/// use winddown_core::Shutdown;
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// let guard = shutdown.in_flight_guard();
/// assert_eq!(shutdown.in_flight_count(), 1);
/// drop(guard);
/// assert_eq!(shutdown.in_flight_count(), 0);
/// ```
#[must_use = "the work counts as in flight only while the guard is alive"]
pub struct InFlightGuard<O: AsRef<Shutdown> = Shutdown> {
    owner: O,
}

impl<O: AsRef<Shutdown>> InFlightGuard<O> {
    /// Counts one unit of work in flight in `owner.as_ref()` until the guard
    /// is dropped, keeping `owner` meanwhile.
    ///
    /// `owner.as_ref()` must lead to the same [`Shutdown`] for the guard's
    /// whole life (as a field of an immutable value does): the count is
    /// taken from the handle it gives at creation and given back to the one
    /// it gives at drop.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use winddown_core::{InFlightGuard, Shutdown};
    ///
    /// struct Shared { shutdown: Shutdown, name: &'static str }
    /// #[derive(Clone)]
    /// struct Owner(Arc<Shared>);
    /// impl AsRef<Shutdown> for Owner {
    ///     fn as_ref(&self) -> &Shutdown { &self.0.shutdown }
    /// }
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let owner = Owner(Arc::new(Shared { shutdown: shutdown.clone(), name: "api" }));
    /// let guard = InFlightGuard::new(owner.clone());
    /// assert_eq!(guard.owner().0.name, "api");
    /// assert_eq!(shutdown.in_flight_count(), 1);
    /// drop(guard);
    /// assert_eq!(shutdown.in_flight_count(), 0);
    /// ```
    #[inline]
    pub fn new(owner: O) -> Self {
        owner.as_ref().inner().signals.in_flight.enter();
        InFlightGuard { owner }
    }

    /// Counts like [`new`](Self::new), unless the shutdown has started
    /// draining: then nothing is counted and the owner is handed back.
    ///
    /// Counting and the check are one atomic operation, so there is no
    /// window between them: an admitted guard is always one the drain waits
    /// for, and once the state is [`Draining`](crate::State::Draining) (or
    /// later) every call refuses. Guards taken with [`new`](Self::new) are
    /// counted in every state.
    ///
    /// ```
    /// use winddown_core::{InFlightGuard, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let guard = InFlightGuard::try_new(shutdown.clone()).expect("admitted while running");
    /// shutdown.trigger();
    /// // Announcing: still admitted.
    /// let second = InFlightGuard::try_new(shutdown.clone()).expect("admitted while announcing");
    /// drop((guard, second));
    ///
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// shutdown.draining().await;
    /// let refused = InFlightGuard::try_new(shutdown.clone());
    /// assert!(refused.is_err());
    /// assert_eq!(shutdown.in_flight_count(), 0);
    /// # }
    /// ```
    #[inline]
    pub fn try_new(owner: O) -> Result<Self, O> {
        if owner.as_ref().inner().signals.in_flight.try_enter() {
            Ok(InFlightGuard { owner })
        } else {
            Err(owner)
        }
    }

    /// The owner this guard keeps.
    ///
    /// ```
    /// use winddown_core::{InFlightGuard, Shutdown};
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let guard = InFlightGuard::new(shutdown.clone());
    /// assert_eq!(guard.owner().in_flight_count(), 1);
    /// ```
    #[inline]
    pub fn owner(&self) -> &O {
        &self.owner
    }

    /// The shutdown handle this work is counted in.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let guard = shutdown.in_flight_guard();
    /// assert!(!guard.shutdown().is_shutting_down());
    /// ```
    #[inline]
    pub fn shutdown(&self) -> &Shutdown {
        self.owner.as_ref()
    }
}

impl<O: AsRef<Shutdown>> Drop for InFlightGuard<O> {
    #[inline]
    fn drop(&mut self) {
        self.owner.as_ref().inner().signals.in_flight.exit();
    }
}

impl<O: AsRef<Shutdown>> fmt::Debug for InFlightGuard<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightGuard")
            .field(
                "in_flight",
                &self.shutdown().inner().signals.in_flight.count(),
            )
            .finish()
    }
}
