//! The hook runner: phases in order, hooks in registration order, fail-safe.
//!
//! Each hook runs as its own task (`run_one`): at its deadline its token is
//! cancelled and it gets [`HOOK_CANCEL_GRACE`] to return; past that it is
//! dropped. The runner waits for that task with a rescue timer
//! (`watchdog.rs`) that fires even when the hook's thread is blocked, so a
//! blocked or slowly panicking hook cannot hold the sequence past its
//! deadline on a multi-thread runtime.

mod watchdog;

use std::any::Any;
use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::task::JoinError;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, info, info_span, warn};

use crate::defaults::HOOK_CANCEL_GRACE;
use crate::hook::{BoxFuture, HookContext, Registered};
use crate::report::{HookOutcome, HookRecord, escaped};
use crate::{BoxError, Phase, Reason};

/// How long past the end of a hook's grace the runner waits for the hook's
/// task to report before abandoning it: the task ends itself at that
/// instant unless its thread is blocked, and is preferred when both are due.
const RESCUE_MARGIN: Duration = Duration::from_millis(10);

pub(crate) struct RunPlan {
    pub(crate) hooks: Vec<Registered>,
    pub(crate) default_timeout: Duration,
    pub(crate) deadline: Instant,
    pub(crate) concurrent: BTreeSet<Phase>,
    pub(crate) reason: Reason,
}

/// Runs every hook and returns one record per hook, in the order they ran.
pub(crate) async fn run_hooks(plan: RunPlan) -> Vec<HookRecord> {
    let RunPlan {
        mut hooks,
        default_timeout,
        deadline,
        concurrent,
        reason,
    } = plan;
    // A stable sort keeps registration order inside each phase.
    hooks.sort_by_key(|h| h.phase);
    let total = hooks.len();
    let mut records = Vec::with_capacity(total);
    let mut index = 0;
    let mut rest = hooks.into_iter().peekable();
    while let Some(first) = rest.next() {
        let phase = first.phase;
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|h| h.phase == phase) {
            group.push(next);
        }
        let slot = |hook, index| Slot {
            hook,
            index,
            total,
            default_timeout,
            global_deadline: deadline,
            reason: reason.clone(),
        };
        if concurrent.contains(&phase) && group.len() > 1 {
            let runs: Vec<_> = group
                .into_iter()
                .map(|hook| {
                    index += 1;
                    run_one(slot(hook, index))
                })
                .collect();
            records.extend(join_all(runs).await);
        } else {
            for hook in group {
                index += 1;
                records.push(run_one(slot(hook, index)).await);
            }
        }
    }
    records
}

/// One hook and its place in the run.
struct Slot {
    hook: Registered,
    index: usize,
    total: usize,
    default_timeout: Duration,
    global_deadline: Instant,
    reason: Reason,
}

/// When a hook is asked to stop and when it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// Its token fires: its deadline.
    cancel_at: Instant,
    /// It is dropped if it has not returned.
    drop_at: Instant,
}

impl Limits {
    /// The hook's own timeout from `start`, capped so that cancel grace and
    /// all end by the global deadline.
    fn new(start: Instant, timeout: Duration, global_deadline: Instant) -> Limits {
        let own = start.checked_add(timeout).unwrap_or(global_deadline);
        let latest_cancel = global_deadline
            .checked_sub(HOOK_CANCEL_GRACE)
            .unwrap_or(start)
            .max(start);
        let cancel_at = own.min(latest_cancel);
        let drop_at = cancel_at
            .checked_add(HOOK_CANCEL_GRACE)
            .unwrap_or(cancel_at)
            .min(global_deadline.max(cancel_at));
        Limits { cancel_at, drop_at }
    }
}

/// How the hook's own task ended.
enum Ended {
    /// It returned before its token fired.
    InTime(Result<(), BoxError>),
    /// It returned within the grace after its token fired.
    AfterCancel(Result<(), BoxError>),
    /// It ignored the cancellation and was dropped at the end of the grace.
    Dropped,
}

/// Polls the hook first at every wake-up, so that a hook whose own wait ends
/// at the very instant of its deadline returns its own result.
async fn guarded(future: BoxFuture, token: CancellationToken, limits: Limits) -> Ended {
    tokio::pin!(future);
    tokio::select! {
        biased;
        result = &mut future => return Ended::InTime(result),
        () = sleep_until(limits.cancel_at) => {}
    }
    token.cancel();
    tokio::select! {
        biased;
        result = &mut future => Ended::AfterCancel(result),
        () = sleep_until(limits.drop_at) => Ended::Dropped,
    }
}

async fn run_one(slot: Slot) -> HookRecord {
    let Slot {
        hook:
            Registered {
                name,
                phase,
                timeout,
                hook,
            },
        index,
        total,
        default_timeout,
        global_deadline,
        reason,
    } = slot;
    let shown = escaped(&name).to_string();
    let start = Instant::now();
    let span = info_span!(target: "winddown", "hook", hook = %shown, %phase, index, total);
    let hook = match hook {
        Ok(hook) => hook,
        // Its name, phase or timeout could not be read: a panic, not run.
        Err(message) => {
            let outcome = HookOutcome::Panic(message);
            return finished(&span, name, phase, outcome, Duration::ZERO, index, total);
        }
    };
    if start >= global_deadline {
        warn!(
            target: "winddown",
            hook = %shown, %phase,
            "cleanup {index}/{total} skipped: global shutdown deadline already passed"
        );
        return HookRecord {
            name,
            phase,
            outcome: HookOutcome::Skipped,
            duration: Duration::ZERO,
        };
    }
    let limits = Limits::new(start, timeout.unwrap_or(default_timeout), global_deadline);
    let token = CancellationToken::new();
    let ctx = HookContext {
        name: name.clone(),
        phase,
        deadline: limits.cancel_at,
        token: token.clone(),
        reason,
        index,
        total,
    };
    // The hook's future is made inside its task too: a `shutdown` that
    // panics before returning a future panics there.
    let mut task = tokio::spawn(
        {
            let token = token.clone();
            async move { guarded(hook.run(ctx), token, limits).await }
        }
        .instrument(span.clone()),
    );
    let rescue_at = limits.drop_at + RESCUE_MARGIN;
    let outcome = tokio::select! {
        biased;
        joined = &mut task => outcome_of(joined, &token, limits),
        // Only reached when the hook's thread is blocked past its grace.
        () = watchdog::sleep_until(rescue_at) => {
            token.cancel();
            task.abort();
            HookOutcome::Timeout(None)
        }
    };
    finished(&span, name, phase, outcome, start.elapsed(), index, total)
}

/// A hook that ended (or could not start): logs it in its span, records its
/// metric, and returns its record.
fn finished(
    span: &Span,
    name: String,
    phase: Phase,
    outcome: HookOutcome,
    duration: Duration,
    index: usize,
    total: usize,
) -> HookRecord {
    let _entered = span.enter();
    let secs = duration.as_secs_f64();
    match &outcome {
        HookOutcome::Ok => info!(
            target: "winddown",
            outcome = outcome.as_str(), duration_seconds = secs,
            "cleanup {index}/{total} done ({secs:.3}s)"
        ),
        other => warn!(
            target: "winddown",
            outcome = other.as_str(), duration_seconds = secs,
            "cleanup {index}/{total} failed ({secs:.3}s): {other}"
        ),
    }
    #[cfg(feature = "metrics")]
    crate::metric_names::record_hook(&name, phase, outcome.as_str(), duration);
    HookRecord {
        name,
        phase,
        outcome,
        duration,
    }
}

fn outcome_of(
    joined: Result<Ended, JoinError>,
    token: &CancellationToken,
    limits: Limits,
) -> HookOutcome {
    match joined {
        // Returned in time by its own clock, but only after the end of its
        // grace: it blocked a thread nothing could take back (a
        // current_thread runtime). It overran: a timeout, never ok.
        Ok(Ended::InTime(result)) if Instant::now() >= limits.drop_at => {
            HookOutcome::Timeout(Some(late_message(result)))
        }
        Ok(Ended::InTime(Ok(()))) => HookOutcome::Ok,
        Ok(Ended::InTime(Err(error))) => HookOutcome::Error(error.to_string()),
        Ok(Ended::AfterCancel(result)) => HookOutcome::Timeout(Some(late_message(result))),
        Ok(Ended::Dropped) => HookOutcome::Timeout(None),
        Err(join) if join.is_panic() => {
            let message = panic_message(join.into_panic());
            if token.is_cancelled() {
                HookOutcome::Timeout(Some(format!("panicked: {message}")))
            } else {
                HookOutcome::Panic(message)
            }
        }
        Err(join) => HookOutcome::Error(join.to_string()),
    }
}

fn late_message(result: Result<(), BoxError>) -> String {
    match result {
        Ok(()) => "returned ok after its deadline".to_owned(),
        Err(error) => error.to_string(),
    }
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_owned(),
            Err(_) => "non-string panic payload".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn limits_keep_the_grace_inside_the_global_deadline() {
        let start = Instant::now();
        let global = start + Duration::from_secs(10);
        let own = Limits::new(start, Duration::from_secs(2), global);
        assert_eq!(own.cancel_at, start + Duration::from_secs(2));
        assert_eq!(own.drop_at, own.cancel_at + HOOK_CANCEL_GRACE);

        let capped = Limits::new(start, Duration::from_secs(60), global);
        assert_eq!(capped.cancel_at, global - HOOK_CANCEL_GRACE);
        assert_eq!(capped.drop_at, global);

        let late = Limits::new(
            global - Duration::from_millis(30),
            Duration::from_secs(1),
            global,
        );
        assert_eq!(late.cancel_at, global - Duration::from_millis(30));
        assert_eq!(late.drop_at, global);

        let huge = Limits::new(start, Duration::MAX, global);
        assert_eq!(huge.drop_at, global);
    }
}
