//! In-flight work: guards the drain waits for, and tracked tasks.

use std::future::Future;

use tokio::task::JoinHandle;

use crate::shutdown::lock;
use crate::{InFlightGuard, RequestGate, Shutdown};

impl Shutdown {
    /// Takes an in-flight guard: draining waits until it is dropped.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let guard = shutdown.in_flight_guard();
    /// assert_eq!(shutdown.in_flight_count(), 1);
    /// drop(guard);
    /// ```
    pub fn in_flight_guard(&self) -> InFlightGuard {
        InFlightGuard::new(self.clone())
    }

    /// Takes an in-flight guard unless draining has started: the admission
    /// check of a server or consumer that must refuse new work once draining
    /// (see [`InFlightGuard::try_new`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let admitted = shutdown.try_in_flight_guard();
    /// assert!(admitted.is_some());
    /// drop(admitted);
    ///
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// shutdown.draining().await;
    /// assert!(shutdown.try_in_flight_guard().is_none());
    /// assert_eq!(shutdown.in_flight_count(), 0);
    /// # }
    /// ```
    pub fn try_in_flight_guard(&self) -> Option<InFlightGuard> {
        InFlightGuard::try_new(self.clone()).ok()
    }

    /// How many in-flight guards and request [admissions](RequestGate) are
    /// alive.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert_eq!(shutdown.in_flight_count(), 0);
    /// ```
    pub fn in_flight_count(&self) -> usize {
        self.inner.signals.in_flight.count() + self.inner.gate.admitted()
    }

    /// The gate that admits requests until draining starts (see
    /// [`RequestGate`]).
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let admission = shutdown.request_gate().try_admit();
    /// assert_eq!(shutdown.in_flight_count(), 1);
    /// # drop(admission);
    /// ```
    pub fn request_gate(&self) -> RequestGate {
        self.inner.gate.gate()
    }

    /// Spawns a tracked task: draining waits for it to finish. A task still
    /// running when the drain times out is cut like a request still in
    /// flight then: aborted as the drain ends, before the hooks start (it
    /// stops at its next `.await`), so that it does not go on beside the
    /// cleanup, and counted as abandoned. Its `JoinHandle` then gives a
    /// cancelled `JoinError`. To stop on your own
    /// terms first, watch [`drain_ended`](Self::drain_ended) or
    /// [`draining`](Self::draining) in the task.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.spawn(async { tokio::time::sleep(Duration::from_secs(2)).await });
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert!(report.drained);
    /// assert_eq!(report.drain, Duration::from_secs(2));
    /// # }
    /// ```
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = self.inner.tracker.spawn(task);
        let mut tracked = lock(&self.inner.tracked);
        // Finished tasks are pruned when the list is full, and then the
        // list gets room for as many more as are still running: the next
        // pruning comes after at least that many spawns, so a spawn costs
        // amortised constant time however many tasks keep running.
        if tracked.len() == tracked.capacity() {
            tracked.retain(|task| !task.is_finished());
            let running = tracked.len();
            tracked.reserve(running.max(4));
        }
        tracked.push(handle.abort_handle());
        handle
    }

    /// Aborts the tracked tasks still running: the drain timed out.
    pub(crate) fn cut_tracked_tasks(&self) {
        for task in std::mem::take(&mut *lock(&self.inner.tracked)) {
            task.abort();
        }
    }

    /// How many tracked tasks are still running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let task = shutdown.spawn(std::future::pending::<()>());
    /// assert_eq!(shutdown.tracked_task_count(), 1);
    /// task.abort();
    /// # }
    /// ```
    pub fn tracked_task_count(&self) -> usize {
        self.inner.tracker.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many tracked tasks keep running, pruning leaves room for as
    /// many more spawns: the list is not scanned on every spawn.
    #[tokio::test(flavor = "current_thread")]
    async fn after_pruning_there_is_room_for_as_many_spawns_as_tasks_running() {
        let shutdown = Shutdown::builder().no_signals().build();
        for _ in 0..1000 {
            shutdown.spawn(std::future::pending::<()>());
        }
        for _ in 0..3000 {
            let done = shutdown.spawn(async {});
            done.await.unwrap();
        }
        let tracked = lock(&shutdown.inner.tracked);
        // Room for at least as many spawns as tasks running after a
        // pruning (a list kept at 1024 would be pruned every 24 spawns).
        assert!(tracked.capacity() >= 2 * 1000, "{}", tracked.capacity());
        // Pruned: the finished tasks do not pile up.
        assert!(tracked.len() < 1000 + 3000, "{}", tracked.len());
    }
}
