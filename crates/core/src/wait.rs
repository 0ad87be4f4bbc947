//! Waiting for a condition or a future, bounded by a deadline or by the
//! trigger; shared by the handle and the hook context.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};

/// Resolves once `done` returns `true`, woken by `notify` in between. Each
/// check comes after this waiter registered with `notify`, so a change that
/// makes `done` true and then calls `notify_waiters` is never missed.
/// Cancel safe.
pub(crate) async fn until_notified(notify: &Notify, mut done: impl FnMut() -> bool) {
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if done() {
            return;
        }
        notified.await;
    }
}

/// Polls `condition` every `poll_interval` until it holds (`true`) or
/// `deadline` passes (`false`). No deadline: until it holds.
pub(crate) async fn wait_condition<C: FnMut() -> bool>(
    mut condition: C,
    poll_interval: Duration,
    deadline: Option<Instant>,
) -> bool {
    // A zero interval would spin without yielding.
    let poll_interval = poll_interval.max(Duration::from_millis(1));
    loop {
        if condition() {
            return true;
        }
        let Some(deadline) = deadline else {
            sleep(poll_interval).await;
            continue;
        };
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let next = now.checked_add(poll_interval).unwrap_or(deadline);
        sleep_until(next.min(deadline)).await;
    }
}

/// Runs `future` until it completes or `deadline` passes (`None`).
pub(crate) async fn wait_future<F: Future>(future: F, deadline: Instant) -> Option<F::Output> {
    timeout_at(deadline, future).await.ok()
}
