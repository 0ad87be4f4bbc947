//! Properties of phase ordering and deadline arithmetic, on paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use winddown_core::defaults::HOOK_CANCEL_GRACE;
use winddown_core::{HookOutcome, Phase, Shutdown, hook_fn};

#[derive(Debug, Clone)]
struct HookSpec {
    phase: u16,
    work_ms: u64,
    timeout_ms: Option<u64>,
}

fn hook_spec() -> impl Strategy<Value = HookSpec> {
    (
        prop_oneof![Just(100u16), Just(250), Just(400), Just(500), 0u16..1000],
        0u64..3_000,
        proptest::option::of(1u64..3_000),
    )
        .prop_map(|(phase, work_ms, timeout_ms)| HookSpec {
            phase,
            work_ms,
            timeout_ms,
        })
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn hooks_run_by_phase_then_registration_and_never_past_any_deadline(
        specs in proptest::collection::vec(hook_spec(), 0..12),
        timeout_ms in 1u64..10_000,
        announce_ms in 0u64..2_000,
        drain_ms in 0u64..2_000,
        hook_timeout_ms in 1u64..3_000,
        hold_ms in 0u64..3_000,
    ) {
        paused_runtime().block_on(async {
            let shutdown = Shutdown::builder()
                .no_signals()
                .timeout(Duration::from_millis(timeout_ms))
                .announce_delay(Duration::from_millis(announce_ms))
                .drain_timeout(Duration::from_millis(drain_ms))
                .hook_timeout(Duration::from_millis(hook_timeout_ms))
                .build();
            let started: Arc<Mutex<Vec<usize>>> = Arc::default();
            for (i, spec) in specs.iter().enumerate() {
                let started = started.clone();
                let work = Duration::from_millis(spec.work_ms);
                let mut hook = hook_fn(format!("h{i}"), move |_| async move {
                    started.lock().unwrap().push(i);
                    tokio::time::sleep(work).await;
                    Ok(())
                })
                .phase(Phase::new(spec.phase));
                if let Some(t) = spec.timeout_ms {
                    hook = hook.timeout(Duration::from_millis(t));
                }
                shutdown.register(hook).unwrap();
            }
            let guard = shutdown.in_flight_guard();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(hold_ms)).await;
                drop(guard);
            });
            shutdown.trigger();
            let report = shutdown.run().await;
            let deadline = Duration::from_millis(timeout_ms);

            // Never past the global deadline; every step adds up.
            prop_assert!(report.total <= deadline, "{report}");
            prop_assert_eq!(report.total, report.announce + report.drain + report.cleanup);
            prop_assert_eq!(report.announce, Duration::from_millis(announce_ms).min(deadline));
            prop_assert!(report.drain <= Duration::from_millis(drain_ms));
            prop_assert_eq!(report.drained, report.abandoned == 0);

            // Order: ascending phase, registration order inside a phase.
            let mut expected: Vec<usize> = (0..specs.len()).collect();
            expected.sort_by_key(|&i| specs[i].phase);
            let ran: Vec<usize> = report
                .hooks
                .iter()
                .map(|h| h.name[1..].parse().unwrap())
                .collect();
            prop_assert_eq!(&ran, &expected);
            let started = started.lock().unwrap().clone();
            prop_assert!(expected.starts_with(&started));

            // Each hook: ok when its work fits its budget (its token fires at
            // the end of it); past that a timeout, with its own return kept
            // when it returns within the cancel grace, dropped at the end of
            // the grace otherwise; skipped once the global deadline has
            // passed. The grace never runs past the global deadline.
            let mut elapsed = report.announce + report.drain;
            for h in &report.hooks {
                let i: usize = h.name[1..].parse().unwrap();
                let spec = &specs[i];
                let left = deadline.saturating_sub(elapsed);
                let own = Duration::from_millis(spec.timeout_ms.unwrap_or(hook_timeout_ms));
                let cancel = own.min(left.saturating_sub(HOOK_CANCEL_GRACE));
                let dropped = (cancel + HOOK_CANCEL_GRACE).min(left.max(cancel));
                let work = Duration::from_millis(spec.work_ms);
                match &h.outcome {
                    HookOutcome::Skipped => prop_assert!(elapsed >= deadline),
                    HookOutcome::Ok => {
                        // At work == cancel both are due at the same instant: either outcome.
                        prop_assert!(work <= cancel);
                        prop_assert_eq!(h.duration, work);
                    }
                    HookOutcome::Timeout(Some(message)) => {
                        prop_assert!(work >= cancel && work <= dropped);
                        prop_assert_eq!(message, "returned ok after its deadline");
                        prop_assert_eq!(h.duration, work);
                    }
                    HookOutcome::Timeout(None) => {
                        prop_assert!(work >= dropped);
                        prop_assert_eq!(h.duration, dropped);
                    }
                    other => prop_assert!(false, "unexpected outcome {other:?}"),
                }
                elapsed += h.duration;
            }
            prop_assert_eq!(report.deadline_exceeded, report.total >= deadline
                || report.hooks.iter().any(|h| h.outcome == HookOutcome::Skipped));
            Ok(())
        })?;
    }
}
