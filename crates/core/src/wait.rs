//! Waiting for a condition or a future, bounded by a deadline or by the
//! trigger; shared by the handle and the hook context.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until, timeout_at};

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
