//! Waiting on the sequence: futures for each state, and the seed's `wait`.

use std::future::Future;
use std::time::Duration;

use crate::wait::{wait_condition, wait_future};
use crate::{DrainEnded, Shutdown, State, StateReached};

impl Shutdown {
    /// A future that resolves once the sequence has reached `state` (or a
    /// later one). `'static` and `Send`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and one created later
    /// resolves at once if the state has been reached meanwhile.
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let cleanup = shutdown.reached(State::Cleanup);
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// cleanup.await;
    /// assert!(shutdown.state() >= State::Cleanup);
    /// # }
    /// ```
    pub fn reached(&self, state: State) -> StateReached {
        StateReached::new(state, self.inner.state_tx.subscribe())
    }

    /// Resolves when shutdown is triggered (announcing starts).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and one created later
    /// resolves at once if the state has been reached meanwhile.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let triggered = shutdown.triggered();
    /// shutdown.trigger();
    /// triggered.await;
    /// # }
    /// ```
    pub fn triggered(&self) -> StateReached {
        self.reached(State::Announcing)
    }

    /// Resolves when draining starts: pass it to a server's graceful-shutdown
    /// method (`axum::serve(..).with_graceful_shutdown(shutdown.draining())`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and one created later
    /// resolves at once if the state has been reached meanwhile.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let draining = shutdown.draining();
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// draining.await;
    /// # }
    /// ```
    pub fn draining(&self) -> StateReached {
        self.reached(State::Draining)
    }

    /// Resolves when the hooks start running.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and one created later
    /// resolves at once if the state has been reached meanwhile.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let cleanup = shutdown.cleanup_started();
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// cleanup.await;
    /// # }
    /// ```
    pub fn cleanup_started(&self) -> StateReached {
        self.reached(State::Cleanup)
    }

    /// Resolves when the sequence is done.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and one created later
    /// resolves at once if the state has been reached meanwhile.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let done = shutdown.done();
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// done.await;
    /// assert!(shutdown.report().is_some());
    /// # }
    /// ```
    pub fn done(&self) -> StateReached {
        self.reached(State::Done)
    }

    /// Resolves when draining has ended, by completion or by the drain
    /// timeout: work still running then is abandoned and should be cut.
    /// See [`DrainEnded`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, and one created later
    /// resolves at once if draining has ended meanwhile.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().drain_timeout(Duration::from_secs(5)).build();
    /// let started = tokio::time::Instant::now();
    /// let stream = shutdown.in_flight_guard(); // an event stream that never ends
    /// let ended = shutdown.drain_ended();
    /// shutdown.trigger();
    /// let run = tokio::spawn({
    ///     let shutdown = shutdown.clone();
    ///     async move { shutdown.run().await }
    /// });
    /// ended.await;
    /// assert_eq!(started.elapsed(), Duration::from_secs(5)); // the drain timeout
    /// drop(stream); // cut it
    /// let report = run.await.unwrap();
    /// assert!(!report.drained);
    /// assert_eq!(report.abandoned, 1);
    /// # }
    /// ```
    pub fn drain_ended(&self) -> DrainEnded {
        self.inner.signals.drain_ended()
    }

    /// Whether draining has ended (see [`drain_ended`](Self::drain_ended)).
    /// One atomic load.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(!shutdown.is_drain_ended());
    /// ```
    #[inline]
    pub fn is_drain_ended(&self) -> bool {
        self.inner.signals.is_drain_ended()
    }

    /// Polls `condition` every `poll_interval` (at least 1 ms) until it
    /// holds, the seed's `wait(condition, poll_interval)`:
    ///
    /// - called **before the trigger**, it returns `true` once the condition
    ///   holds, or `false` as soon as shutdown is triggered;
    /// - called **during shutdown** (from a hook, say), it returns `true`
    ///   once the condition holds, or `false` at the global deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let queue = AtomicUsize::new(3);
    /// let emptied = shutdown
    ///     .wait(|| queue.fetch_sub(1, Ordering::SeqCst) == 1, Duration::from_millis(100))
    ///     .await;
    /// assert!(emptied);
    ///
    /// // Never true: returns false at the trigger.
    /// let trigger = { let s = shutdown.clone(); async move {
    ///     tokio::time::sleep(Duration::from_secs(1)).await;
    ///     s.trigger();
    /// } };
    /// let (never, ()) = tokio::join!(shutdown.wait(|| false, Duration::from_millis(100)), trigger);
    /// assert!(!never);
    /// # }
    /// ```
    pub async fn wait<C: FnMut() -> bool>(&self, condition: C, poll_interval: Duration) -> bool {
        if let Some(deadline) = self.deadline() {
            return wait_condition(condition, poll_interval, Some(deadline)).await;
        }
        tokio::select! {
            held = wait_condition(condition, poll_interval, None) => held,
            () = self.triggered() => false,
        }
    }

    /// Runs `future` until it completes (`Some(output)`), the event-driven
    /// form of [`wait`](Self::wait): called before the trigger, it gives up
    /// (`None`) at the trigger; called during shutdown, at the global
    /// deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if `future` is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// tx.send(5).unwrap();
    /// assert_eq!(shutdown.with_deadline(rx).await, Some(Ok(5)));
    /// # }
    /// ```
    pub async fn with_deadline<F: Future>(&self, future: F) -> Option<F::Output> {
        if let Some(deadline) = self.deadline() {
            return wait_future(future, deadline).await;
        }
        tokio::select! {
            output = future => Some(output),
            () = self.triggered() => None,
        }
    }
}
