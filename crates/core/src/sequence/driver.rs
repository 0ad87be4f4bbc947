//! Driving the sequence: announce, drain, clean up, report, done.

use std::sync::atomic::Ordering;

use tokio::time::{Instant, sleep_until, timeout_at};
use tracing::{info, warn};

use crate::before_done::run_before_done;
use crate::hook::Registered;
use crate::report::{escaped, log_report};
use crate::runner::{RunPlan, run_hooks};
use crate::shutdown::{deadline_after, lock};
use crate::{HookOutcome, Shutdown, ShutdownReport, State};

impl Shutdown {
    /// Waits for the trigger, then drives the sequence to done and returns the
    /// report: announce for the announce delay, drain until in-flight work and
    /// tracked tasks finish or the drain timeout passes, run the hooks, run
    /// the [`before_done`](Self::before_done) steps, done. The sequence up to
    /// the report is bounded by the global deadline.
    ///
    /// Installs the configured signal handlers first. If called again, or
    /// concurrently, the later calls wait for the first one and return the
    /// same report.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future of the call that drives the
    /// sequence stops it where it is. Later calls then wait forever.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert_eq!(report.hooks.len(), 1);
    /// # }
    /// ```
    pub async fn run(&self) -> ShutdownReport {
        if let Err(error) = self.listen_for_signals() {
            warn!(target: "winddown", %error, "could not install signal handlers");
        }
        if self.inner.driving.swap(true, Ordering::AcqRel) {
            self.done().await;
            if let Some(report) = self.report() {
                return report;
            }
            // Unreachable: the report is stored before done is published.
            return std::future::pending().await;
        }
        self.triggered().await;
        let report = self.drive().await;
        *lock(&self.inner.report) = Some(report.clone());
        let steps = std::mem::take(&mut *lock(&self.inner.before_done));
        run_before_done(steps, &report).await;
        self.advance(State::Done);
        report
    }

    /// Resolves once no guard, admitted request or tracked task is left, all
    /// three at the same time: a guard taken while the drain waits for the
    /// others (a WebSocket upgrade whose request then ends, a tracked task
    /// that hands its work to a guard) is waited for too. The gate cannot
    /// open again once gone, so only the guards and the tasks are looked at
    /// again.
    async fn all_work_done(&self) {
        let inner = &self.inner;
        loop {
            inner.signals.in_flight.wait_idle().await;
            inner.gate.wait_gone().await;
            inner.tracker.wait().await;
            // Guards, tasks, guards: a task that took a guard and then
            // ended is either still a task here or its guard is counted
            // after; a guard's holder that spawned a task and then let go
            // of the guard is counted before or its task is seen here.
            let guards_before = inner.signals.in_flight.count();
            if guards_before == 0
                && inner.tracker.is_empty()
                && inner.signals.in_flight.count() == 0
            {
                return;
            }
        }
    }

    async fn drive(&self) -> ShutdownReport {
        let inner = &self.inner;
        let settings = &inner.settings;
        let Some((t0, reason)) = inner.trigger.get().cloned() else {
            unreachable!("drive runs only once triggered")
        };
        let deadline = deadline_after(t0, settings.timeout);
        info!(
            target: "winddown",
            reason = %escaped(&reason.to_string()),
            announce_delay = ?settings.announce_delay,
            drain_timeout = ?settings.drain_timeout,
            timeout = ?settings.timeout,
            "shutdown started ({}): announcing",
            escaped(&reason.to_string())
        );

        // A timer rounds up to the next millisecond tick: with no announce
        // delay left, skip it rather than wait for that tick.
        let announce_until = deadline_after(t0, settings.announce_delay).min(deadline);
        if announce_until > Instant::now() {
            sleep_until(announce_until).await;
        }
        let drain_start = Instant::now();
        let announce = drain_start - t0;
        self.advance(State::Draining);
        inner.tracker.close();
        info!(
            target: "winddown",
            in_flight = self.in_flight_count(),
            tracked_tasks = inner.tracker.len(),
            "draining in-flight work"
        );
        let drain_deadline = deadline_after(drain_start, settings.drain_timeout).min(deadline);
        let drained = timeout_at(drain_deadline, self.all_work_done())
            .await
            .is_ok();
        let abandoned = if drained {
            0
        } else {
            let abandoned = self.in_flight_count() + inner.tracker.len();
            self.cut_tracked_tasks();
            abandoned
        };
        inner
            .signals
            .drain_ended_flag
            .store(true, Ordering::Release);
        inner.signals.drain_ended.cancel();
        let cleanup_start = Instant::now();
        let drain = cleanup_start - drain_start;
        let secs = drain.as_secs_f64();
        if drained {
            info!(target: "winddown", drain_seconds = secs, "drained ({secs:.3}s)");
        } else {
            warn!(
                target: "winddown",
                abandoned,
                drain_seconds = secs,
                "drain timeout: {abandoned} in-flight units abandoned"
            );
        }

        self.advance(State::Cleanup);
        let hooks = std::mem::take(&mut *lock(&inner.hooks))
            .into_iter()
            .enumerate()
            .map(|(i, hook)| Registered::new(hook, i + 1))
            .collect();
        let hooks = run_hooks(RunPlan {
            hooks,
            default_timeout: settings.hook_timeout,
            deadline,
            concurrent: settings.concurrent_phases.clone(),
            reason: reason.clone(),
        })
        .await;
        let end = Instant::now();
        let deadline_exceeded = end >= deadline
            || hooks
                .iter()
                .any(|h| matches!(h.outcome, HookOutcome::Skipped));
        let report = ShutdownReport {
            reason,
            announce,
            drain,
            cleanup: end - cleanup_start,
            total: end - t0,
            drained,
            abandoned,
            deadline_exceeded,
            hooks,
            service_error: lock(&inner.service_error).clone(),
            failure_exit_code: settings.failure_exit_code,
        };
        #[cfg(feature = "metrics")]
        crate::metric_names::record_sequence(&report);
        log_report(&report);
        report
    }
}
