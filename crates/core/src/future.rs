//! The futures a [`Shutdown`](crate::Shutdown) hands out: one per point of
//! the sequence a task may wait for.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::State;

/// Resolves when the shutdown sequence reaches a state (or a later one); see
/// [`Shutdown::reached`](crate::Shutdown::reached).
///
/// `'static` and `Send`: it owns what it waits on, so it can be moved into a
/// spawned task or handed to a server's graceful-shutdown method.
///
/// # Cancel safety
///
/// Cancel safe: dropping it loses nothing, and a new one created later
/// resolves at once if the state has been reached meanwhile.
///
/// # Examples
///
/// ```
/// use winddown_core::{Shutdown, State};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// let draining = shutdown.draining();
/// shutdown.trigger();
/// tokio::spawn({
///     let shutdown = shutdown.clone();
///     async move { shutdown.run().await }
/// });
/// draining.await;
/// assert!(shutdown.state() >= State::Draining);
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct StateReached {
    state: State,
    inner: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
}

impl StateReached {
    pub(crate) fn new(state: State, mut rx: watch::Receiver<State>) -> Self {
        StateReached {
            state,
            inner: Box::pin(async move {
                // The sender lives in the handles' shared state: an error
                // means every handle is gone and no sequence is left to wait
                // for, so resolve rather than hang.
                let _ = rx.wait_for(|s| *s >= state).await;
            }),
        }
    }

    /// The state this future waits for.
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// assert_eq!(shutdown.draining().state(), State::Draining);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }
}

impl Future for StateReached {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for StateReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateReached")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Resolves when draining has ended, by completion or at the drain timeout;
/// see [`Shutdown::drain_ended`](crate::Shutdown::drain_ended). Work still
/// running then is abandoned and should be cut.
///
/// `'static` and `Send`.
///
/// # Cancel safety
///
/// Cancel safe: dropping it loses nothing; a new one resolves at once once
/// draining has ended.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_core::Shutdown;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().drain_timeout(Duration::from_secs(2)).build();
/// let stream = shutdown.in_flight_guard(); // an endless stream, say
/// let ended = shutdown.drain_ended();
/// shutdown.trigger();
/// tokio::spawn({
///     let shutdown = shutdown.clone();
///     async move { shutdown.run().await }
/// });
/// ended.await; // at the drain timeout: cut the stream
/// drop(stream);
/// assert!(shutdown.is_drain_ended());
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct DrainEnded {
    inner: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl DrainEnded {
    pub(crate) fn new(inner: WaitForCancellationFutureOwned) -> Self {
        DrainEnded {
            inner: Box::pin(inner),
        }
    }
}

impl Future for DrainEnded {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for DrainEnded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainEnded").finish_non_exhaustive()
    }
}
