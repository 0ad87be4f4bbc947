//! The hook runner: phases in order, hooks in registration order, fail-safe.

use std::any::Any;
use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::hook::{HookContext, Registered};
use crate::report::{HookOutcome, HookRecord};
use crate::{Phase, Reason};

/// How long past its deadline a hook that blocks its thread (and so cannot
/// be cut at an `.await`) is waited for before it is abandoned.
const BLOCKED_HOOK_GRACE: Duration = Duration::from_millis(50);

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
        if concurrent.contains(&phase) && group.len() > 1 {
            let runs = group.into_iter().map(|hook| {
                index += 1;
                run_one(
                    hook,
                    index,
                    total,
                    default_timeout,
                    deadline,
                    reason.clone(),
                )
            });
            records.extend(join_all(runs.collect::<Vec<_>>()).await);
        } else {
            for hook in group {
                index += 1;
                records.push(
                    run_one(
                        hook,
                        index,
                        total,
                        default_timeout,
                        deadline,
                        reason.clone(),
                    )
                    .await,
                );
            }
        }
    }
    records
}

async fn run_one(
    hook: Registered,
    index: usize,
    total: usize,
    default_timeout: Duration,
    global_deadline: Instant,
    reason: Reason,
) -> HookRecord {
    let Registered { phase, hook } = hook;
    let name = hook.name().to_owned();
    let timeout = hook.timeout();
    let start = Instant::now();
    if start >= global_deadline {
        warn!(
            target: "winddown",
            hook = %name, %phase,
            "cleanup {index}/{total} skipped: global shutdown deadline already passed"
        );
        return HookRecord {
            name,
            phase,
            outcome: HookOutcome::Skipped,
            duration: Duration::ZERO,
        };
    }
    let deadline = (start + timeout.unwrap_or(default_timeout)).min(global_deadline);
    let token = CancellationToken::new();
    let ctx = HookContext {
        name: name.clone(),
        phase,
        deadline,
        token: token.clone(),
        reason,
        index,
        total,
    };
    let span = info_span!(target: "winddown", "hook", hook = %name, %phase, index, total);
    // The deadline is enforced inside the hook's own task, polling the hook
    // first: a hook whose wait ends at that same instant (a `ctx.wait` that
    // returns `false`) gets to return its own result instead of a timeout.
    let hook_token = token.clone();
    let guarded = async move {
        tokio::select! {
            biased;
            result = hook.run(ctx) => Some(result),
            () = sleep_until(deadline) => {
                hook_token.cancel();
                None
            }
        }
    };
    let mut task = tokio::spawn(guarded.instrument(span.clone()));
    let outcome = tokio::select! {
        biased;
        joined = &mut task => match joined {
            Ok(Some(Ok(()))) => HookOutcome::Ok,
            Ok(Some(Err(error))) => HookOutcome::Error(error.to_string()),
            Ok(None) => HookOutcome::Timeout,
            Err(join) if join.is_panic() => HookOutcome::Panic(panic_message(join.into_panic())),
            Err(join) => HookOutcome::Error(join.to_string()),
        },
        // Only reached when the hook blocks its thread past its deadline.
        () = sleep_until(deadline + BLOCKED_HOOK_GRACE) => {
            token.cancel();
            task.abort();
            HookOutcome::Timeout
        }
    };
    let duration = start.elapsed();
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
    crate::metrics::record_hook(&name, phase, outcome.as_str(), duration);
    HookRecord {
        name,
        phase,
        outcome,
        duration,
    }
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_owned(),
            Err(_) => "non-string panic payload".to_owned(),
        },
    }
}
