//! A timer that fires even when every runtime worker is busy.
//!
//! Tokio's timers are driven by a worker that parks. A hook that blocks its
//! worker (`std::thread::sleep`, a panic capturing a backtrace with
//! `RUST_BACKTRACE=1`) can leave no worker to drive them, and the runner's
//! rescue would wait for the hook. On a multi-thread runtime this timer is
//! also kept by a plain thread that wakes the runner directly; on a
//! `current_thread` runtime nothing can run beside a blocked hook, so it is
//! the tokio timer alone.

use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Resolves at `deadline`, by whichever of the tokio timer and the thread
/// fires first.
pub(super) async fn sleep_until(deadline: Instant) {
    let Some(thread) = Alarm::start(deadline) else {
        return tokio::time::sleep_until(deadline).await;
    };
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => {}
        _ = thread.fired => {}
    }
    // Dropping the rest of `thread` ends its wait at once.
}

/// A thread that sleeps until a deadline, then sends.
struct Alarm {
    fired: oneshot::Receiver<()>,
    /// Held only to be dropped: dropping it ends the thread's wait.
    _disarm: mpsc::Sender<()>,
}

impl Alarm {
    fn start(deadline: Instant) -> Option<Alarm> {
        let handle = Handle::try_current().ok()?;
        if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
            return None;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let (fire, fired) = oneshot::channel();
        let (disarm, disarmed) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("winddown-watchdog".into())
            .spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) =
                    disarmed.recv_timeout(wait.max(Duration::from_millis(1)))
                {
                    let _ = fire.send(());
                }
            })
            // No thread to be had: the tokio timer alone still works while
            // any worker is free.
            .ok()?;
        Some(Alarm {
            fired,
            _disarm: disarm,
        })
    }
}
