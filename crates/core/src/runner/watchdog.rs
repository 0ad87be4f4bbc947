//! A timer that fires even when every runtime worker is busy.
//!
//! Tokio's timers are driven by a worker that parks. A hook that blocks its
//! worker (`std::thread::sleep`, a panic capturing a backtrace with
//! `RUST_BACKTRACE=1`) can leave no worker to drive them, and the runner's
//! rescue would wait for the hook. On a multi-thread runtime this timer is
//! also kept by one plain thread for the whole process, which wakes the
//! runner directly; on a `current_thread` runtime nothing can run beside a
//! blocked hook, so it is the tokio timer alone.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Resolves at `deadline`, by whichever of the tokio timer and the
/// watchdog thread fires first.
pub(super) async fn sleep_until(deadline: Instant) {
    let Some(fired) = arm(deadline) else {
        return tokio::time::sleep_until(deadline).await;
    };
    tokio::select! {
        () = tokio::time::sleep_until(deadline) => {}
        _ = fired => {}
    }
    // Dropping `fired` disarms: the thread's send then goes nowhere.
}

/// One armed deadline: the thread sends on `fire` once `at` has passed.
struct Alarm {
    at: std::time::Instant,
    fire: oneshot::Sender<()>,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Alarm {}

impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Alarm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// Arms the watchdog for `deadline` on a multi-thread runtime; `None`
/// elsewhere, or if the thread could not be started.
fn arm(deadline: Instant) -> Option<oneshot::Receiver<()>> {
    let handle = Handle::try_current().ok()?;
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        return None;
    }
    static WATCHDOG: OnceLock<Option<Sender<Alarm>>> = OnceLock::new();
    let alarms = WATCHDOG.get_or_init(start).as_ref()?;
    let (fire, fired) = oneshot::channel();
    alarms
        .send(Alarm {
            at: deadline.into_std(),
            fire,
        })
        .ok()?;
    Some(fired)
}

/// Starts the process's watchdog thread: it sleeps until the earliest armed
/// deadline (or a new alarm), then fires every alarm that is due.
fn start() -> Option<Sender<Alarm>> {
    let (alarms, armed) = mpsc::channel::<Alarm>();
    std::thread::Builder::new()
        .name("winddown-watchdog".into())
        .spawn(move || {
            let mut due: BinaryHeap<Reverse<Alarm>> = BinaryHeap::new();
            loop {
                let next = match due.peek() {
                    None => armed.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(Reverse(first)) => armed.recv_timeout(
                        first
                            .at
                            .saturating_duration_since(std::time::Instant::now()),
                    ),
                };
                match next {
                    Ok(alarm) => due.push(Reverse(alarm)),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                let now = std::time::Instant::now();
                while due.peek().is_some_and(|Reverse(first)| first.at <= now) {
                    if let Some(Reverse(alarm)) = due.pop() {
                        // The runner may have stopped waiting: nothing to do.
                        let _ = alarm.fire.send(());
                    }
                }
            }
        })
        // No thread to be had: the tokio timer alone still works while any
        // worker is free.
        .ok()?;
    Some(alarms)
}
