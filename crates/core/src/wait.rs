//! Deadline-bounded waiting, shared by the handle and the hook context.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout_at};

pub(crate) async fn wait_condition<C: FnMut() -> bool>(
    mut condition: C,
    poll_interval: Duration,
    deadline: Instant,
) -> bool {
    loop {
        if condition() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        sleep_until((now + poll_interval).min(deadline)).await;
    }
}

pub(crate) async fn wait_future<F: Future>(future: F, deadline: Instant) -> Option<F::Output> {
    timeout_at(deadline, future).await.ok()
}
