//! The shutdown sequence on paused tokio time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use winddown_core::defaults::HOOK_CANCEL_GRACE;
use winddown_core::{
    BoxError, HookContext, HookOutcome, Phase, Reason, RegisterError, Shutdown, ShutdownHook,
    State, hook_fn,
};

const MS: Duration = Duration::from_millis(1);

fn quiet() -> winddown_core::ShutdownBuilder {
    Shutdown::builder().no_signals()
}

type Log = Arc<Mutex<Vec<String>>>;

fn logging_hook(log: &Log, name: &str, phase: Phase, sleep: Duration) -> impl ShutdownHook + use<> {
    let log = log.clone();
    let owned = name.to_owned();
    hook_fn(name, move |_ctx| async move {
        log.lock().unwrap().push(format!("start {owned}"));
        tokio::time::sleep(sleep).await;
        log.lock().unwrap().push(format!("end {owned}"));
        Ok(())
    })
    .phase(phase)
}

/// Registers [`logging_hook`] on `shutdown`.
fn register_logged(shutdown: &Shutdown, log: &Log, name: &str, phase: Phase, sleep: Duration) {
    shutdown
        .register(logging_hook(log, name, phase, sleep))
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn phases_run_in_ascending_order_and_registration_order_inside() {
    let shutdown = quiet().build();
    let log: Log = Log::default();
    register_logged(&shutdown, &log, "telemetry", Phase::TELEMETRY, MS);
    register_logged(&shutdown, &log, "db-a", Phase::CLOSE, MS);
    register_logged(&shutdown, &log, "consumer", Phase::STOP_INTAKE, MS);
    register_logged(&shutdown, &log, "db-b", Phase::CLOSE, MS);
    register_logged(&shutdown, &log, "custom-250", Phase::new(250), MS);
    register_logged(&shutdown, &log, "db-c", Phase::CLOSE, MS);
    shutdown.trigger();
    let report = shutdown.run().await;
    let names: Vec<_> = report.hooks.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "consumer",
            "custom-250",
            "db-a",
            "db-b",
            "db-c",
            "telemetry"
        ]
    );
    let log = log.lock().unwrap().clone();
    // Sequential: every hook ends before the next starts.
    let expected: Vec<String> = names
        .iter()
        .flat_map(|n| [format!("start {n}"), format!("end {n}")])
        .collect();
    assert_eq!(log, expected);
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_phase_runs_its_hooks_at_once() {
    let shutdown = quiet().concurrent_phase(Phase::FLUSH).build();
    let log: Log = Log::default();
    for name in ["f1", "f2", "f3"] {
        register_logged(&shutdown, &log, name, Phase::FLUSH, Duration::from_secs(1));
    }
    register_logged(
        &shutdown,
        &log,
        "close",
        Phase::CLOSE,
        Duration::from_secs(1),
    );
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(
        report.cleanup,
        Duration::from_secs(2),
        "3 × 1 s at once, then 1 s"
    );
    let log = log.lock().unwrap().clone();
    assert_eq!(&log[..3], ["start f1", "start f2", "start f3"]);
    assert_eq!(log.last().unwrap(), "end close");
    assert!(
        report
            .hooks
            .iter()
            .all(|h| h.duration == Duration::from_secs(1))
    );
}

#[tokio::test(start_paused = true)]
async fn a_sequential_phase_adds_up() {
    let shutdown = quiet().build();
    let log: Log = Log::default();
    for name in ["f1", "f2", "f3"] {
        register_logged(&shutdown, &log, name, Phase::FLUSH, Duration::from_secs(1));
    }
    shutdown.trigger();
    assert_eq!(shutdown.run().await.cleanup, Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn per_hook_timeout_cancels_the_hook_and_the_rest_still_run() {
    let shutdown = quiet().hook_timeout(Duration::from_secs(2)).build();
    let token_seen = Arc::new(Mutex::new(None));
    let seen = token_seen.clone();
    shutdown
        .register(
            hook_fn("hangs", move |ctx: HookContext| async move {
                // Hand the token to work that outlives this future.
                *seen.lock().unwrap() = Some(ctx.token().clone());
                std::future::pending::<()>().await;
                Ok(())
            })
            .timeout(Duration::from_millis(750)),
        )
        .unwrap();
    shutdown
        .on_cleanup("default-timeout", |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .unwrap();
    shutdown.on_cleanup("after", |_| async { Ok(()) }).unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    // Both ignore their cancellation: dropped at the end of the grace.
    assert_eq!(report.hooks[0].outcome, HookOutcome::Timeout(None));
    assert_eq!(
        report.hooks[0].duration,
        Duration::from_millis(750) + HOOK_CANCEL_GRACE
    );
    assert_eq!(report.hooks[1].outcome, HookOutcome::Timeout(None));
    assert_eq!(
        report.hooks[1].duration,
        Duration::from_secs(2) + HOOK_CANCEL_GRACE
    );
    assert_eq!(report.hooks[2].outcome, HookOutcome::Ok);
    assert!(!report.deadline_exceeded);
    assert_eq!(report.exit_code(), 1);
    let token = token_seen.lock().unwrap().clone().unwrap();
    assert!(token.is_cancelled(), "the token fired at the deadline");
}

#[tokio::test(start_paused = true)]
async fn the_global_deadline_bounds_everything() {
    let shutdown = quiet()
        .timeout(Duration::from_secs(10))
        .announce_delay(Duration::from_secs(2))
        .drain_timeout(Duration::from_secs(3))
        .hook_timeout(Duration::from_secs(4))
        .build();
    let _stuck = shutdown.in_flight_guard();
    for name in ["a", "b", "c"] {
        shutdown
            .on_cleanup(name, |_| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            })
            .unwrap();
    }
    let start = Instant::now();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(report.total, Duration::from_secs(10));
    assert_eq!(report.announce, Duration::from_secs(2));
    assert_eq!(report.drain, Duration::from_secs(3));
    assert!(!report.drained);
    assert_eq!(report.abandoned, 1);
    // 5 s left for hooks: a (3 s) ok, b cut after 2 s, c never starts.
    let outcomes: Vec<_> = report
        .hooks
        .iter()
        .map(|h| (h.outcome.as_str(), h.duration))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ok", Duration::from_secs(3)),
            ("timeout", Duration::from_secs(2)),
            ("skipped", Duration::ZERO)
        ]
    );
    assert!(report.deadline_exceeded);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_also_bounds_announce_and_drain() {
    let shutdown = quiet()
        .timeout(Duration::from_secs(1))
        .announce_delay(Duration::from_secs(5))
        .build();
    shutdown.on_cleanup("never", |_| async { Ok(()) }).unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(report.total, Duration::from_secs(1));
    assert_eq!(report.hooks[0].outcome, HookOutcome::Skipped);
    assert!(report.deadline_exceeded);
}

#[tokio::test(start_paused = true)]
async fn errors_and_panics_are_isolated() {
    let shutdown = quiet().failure_exit_code(70).build();
    let ran = Arc::new(AtomicUsize::new(0));
    shutdown
        .on_cleanup("fails", |_| async {
            Err::<(), BoxError>("disk on fire".into())
        })
        .unwrap();
    shutdown
        .on_cleanup("panics", |_| async {
            if true {
                panic!("boom in hook");
            }
            Ok(())
        })
        .unwrap();
    let r = ran.clone();
    shutdown
        .on_cleanup("runs", move |_| async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(
        report.hooks[0].outcome,
        HookOutcome::Error("disk on fire".into())
    );
    assert_eq!(
        report.hooks[1].outcome,
        HookOutcome::Panic("boom in hook".into())
    );
    assert_eq!(report.hooks[2].outcome, HookOutcome::Ok);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(report.failed_hooks().count(), 2);
    assert_eq!(report.exit_code(), 70);
}

/// A hook whose phase cannot be read (its `phase` panics).
struct UnreadablePhase;

impl ShutdownHook for UnreadablePhase {
    fn name(&self) -> &str {
        "unreadable"
    }

    fn phase(&self) -> Phase {
        panic!("phase lookup failed")
    }

    async fn shutdown(self, _ctx: HookContext) -> Result<(), BoxError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_hook_whose_phase_panics_is_recorded_as_a_panic_and_the_rest_still_run() {
    let shutdown = quiet().build();
    shutdown.register(UnreadablePhase).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    shutdown
        .on_cleanup("db", {
            let ran = ran.clone();
            move |_| async move {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let unreadable = &report.hooks[0];
    assert_eq!(unreadable.name, "unreadable");
    assert_eq!(
        unreadable.outcome,
        HookOutcome::Panic(
            "reading its name, phase or timeout panicked: phase lookup failed".into()
        )
    );
    assert_eq!(report.hooks[1].outcome, HookOutcome::Ok);
    assert_eq!(shutdown.state(), State::Done);
}

#[test]
fn trigger_is_idempotent_across_threads_and_tasks() {
    let shutdown = quiet().build();
    let wins = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let (shutdown, wins) = (shutdown.clone(), wins.clone());
            scope.spawn(move || {
                if shutdown.trigger() {
                    wins.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        rt.block_on(async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    let (shutdown, wins) = (shutdown.clone(), wins.clone());
                    tokio::spawn(async move {
                        if shutdown.trigger() {
                            wins.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
    });
    assert_eq!(wins.load(Ordering::SeqCst), 1);
    assert_eq!(shutdown.state(), State::Announcing);
    assert_eq!(shutdown.reason(), Some(Reason::Manual));
}

#[tokio::test(start_paused = true)]
async fn registering_after_the_trigger_is_an_error() {
    let shutdown = quiet().build();
    shutdown.on_cleanup("before", |_| async { Ok(()) }).unwrap();
    shutdown.trigger();
    let err = shutdown
        .on_cleanup("after", |_| async { Ok(()) })
        .unwrap_err();
    assert_eq!(
        err,
        RegisterError::ShuttingDown {
            hook: "after".into(),
            state: State::Announcing
        }
    );
    let report = shutdown.run().await;
    assert_eq!(report.hooks.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn wait_returns_true_when_the_condition_holds_in_time() {
    let shutdown = quiet().timeout(Duration::from_secs(10)).build();
    shutdown.trigger();
    let start = Instant::now();
    let polls = AtomicUsize::new(0);
    let ok = shutdown
        .wait(
            || polls.fetch_add(1, Ordering::SeqCst) == 4,
            Duration::from_millis(250),
        )
        .await;
    assert!(ok);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "4 intervals of 250 ms"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_returns_false_at_the_deadline() {
    let shutdown = quiet().timeout(Duration::from_secs(3)).build();
    shutdown.trigger();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    assert!(!shutdown.wait(|| false, Duration::from_millis(300)).await);
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(2),
        "the deadline is the trigger's + 3 s"
    );
}

#[tokio::test(start_paused = true)]
async fn with_deadline_is_event_driven() {
    let shutdown = quiet().timeout(Duration::from_secs(3)).build();
    shutdown.trigger();
    let notify = Arc::new(tokio::sync::Notify::new());
    let n = notify.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1234)).await;
        n.notify_one();
    });
    let start = Instant::now();
    assert_eq!(shutdown.with_deadline(notify.notified()).await, Some(()));
    assert_eq!(start.elapsed(), Duration::from_millis(1234));
    assert_eq!(
        shutdown.with_deadline(std::future::pending::<()>()).await,
        None
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(3),
        "the trigger's + 3 s"
    );
}

#[tokio::test(start_paused = true)]
async fn hook_context_waits_use_the_hook_deadline() {
    let shutdown = quiet().build();
    shutdown
        .register(
            hook_fn("queue", |ctx| async move {
                let start = Instant::now();
                let emptied = ctx.wait(|| false, Duration::from_millis(100)).await;
                assert!(!emptied);
                assert_eq!(start.elapsed(), Duration::from_millis(500));
                Ok(())
            })
            .timeout(Duration::from_millis(500)),
        )
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    // The wait returned exactly at the deadline: the hook still returns its
    // own result, not a timeout.
    assert_eq!(report.hooks[0].duration, Duration::from_millis(500));
    assert_eq!(report.hooks[0].outcome, HookOutcome::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_that_ends_at_the_deadline_keeps_the_hooks_own_result_on_real_time() {
    for round in 0..5 {
        let shutdown = quiet().build();
        shutdown
            .register(
                hook_fn("queue", |ctx| async move {
                    if ctx.wait(|| false, Duration::from_millis(7)).await {
                        Ok(())
                    } else {
                        Err("2 jobs left".into())
                    }
                })
                .timeout(Duration::from_millis(30)),
            )
            .unwrap();
        shutdown.trigger();
        let report = shutdown.run().await;
        assert_eq!(
            report.hooks[0].outcome,
            HookOutcome::Error("2 jobs left".into()),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_blocks_its_thread_is_abandoned_shortly_after_its_deadline() {
    let shutdown = quiet().build();
    shutdown
        .register(
            hook_fn("blocks", |_| async {
                std::thread::sleep(Duration::from_millis(400));
                Ok(())
            })
            .timeout(Duration::from_millis(100)),
        )
        .unwrap();
    shutdown.on_cleanup("after", |_| async { Ok(()) }).unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(report.hooks[0].outcome, HookOutcome::Timeout(None));
    assert!(
        report.hooks[0].duration < Duration::from_millis(400),
        "{report}"
    );
    assert_eq!(report.hooks[1].outcome, HookOutcome::Ok);
}

#[tokio::test(start_paused = true)]
async fn states_follow_the_sequence_with_their_durations() {
    let shutdown = quiet()
        .announce_delay(Duration::from_secs(2))
        .drain_timeout(Duration::from_secs(5))
        .build();
    let guard = shutdown.in_flight_guard();
    shutdown
        .on_cleanup("db", |_| async {
            tokio::time::sleep(Duration::from_millis(1001)).await;
            Ok(())
        })
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for state in [
        State::Announcing,
        State::Draining,
        State::Cleanup,
        State::Done,
    ] {
        let (fut, seen) = (shutdown.reached(state), seen.clone());
        tokio::spawn(async move {
            fut.await;
            seen.lock().unwrap().push((state, Instant::now()));
        });
    }
    let runner = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(shutdown.state(), State::Running);
    let t0 = Instant::now();
    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(1999)).await;
    assert_eq!(shutdown.state(), State::Announcing);
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(shutdown.state(), State::Draining);
    assert!(!shutdown.is_drain_ended());
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(guard);
    let report = runner.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let offsets: Vec<_> = seen.iter().map(|(s, at)| (*s, *at - t0)).collect();
    assert_eq!(
        offsets,
        [
            (State::Announcing, Duration::ZERO),
            (State::Draining, Duration::from_secs(2)),
            (State::Cleanup, Duration::from_millis(3001)),
            (State::Done, Duration::from_millis(4002)),
        ]
    );
    assert_eq!(report.announce, Duration::from_secs(2));
    assert_eq!(report.drain, Duration::from_millis(1001));
    assert!(report.drained);
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.total, Duration::from_millis(4002));
    assert!(shutdown.is_drain_ended());
    assert_eq!(shutdown.report(), Some(report));
}

#[tokio::test(start_paused = true)]
async fn drain_waits_for_tracked_tasks_and_counts_what_it_abandons() {
    let shutdown = quiet().drain_timeout(Duration::from_secs(4)).build();
    shutdown.spawn(async { tokio::time::sleep(Duration::from_secs(1)).await });
    shutdown.spawn(async { tokio::time::sleep(Duration::from_secs(100)).await });
    let _a = shutdown.in_flight_guard();
    let _b = shutdown.in_flight_guard();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(!report.drained);
    assert_eq!(report.drain, Duration::from_secs(4));
    assert_eq!(report.abandoned, 3, "two guards and one task");
    assert_eq!(
        report.exit_code(),
        0,
        "abandoned work alone is not a failure"
    );
}

/// A guard taken while the drain waits for the admitted requests (a
/// WebSocket upgrade: the socket takes a guard, then the `101` response
/// ends) is waited for as well.
#[tokio::test(start_paused = true)]
async fn a_guard_taken_while_the_drain_waits_for_requests_is_waited_for() {
    let shutdown = quiet().drain_timeout(Duration::from_secs(10)).build();
    let admission = shutdown.request_gate().try_admit().unwrap();
    shutdown.trigger();
    let run = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    shutdown.draining().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let socket = shutdown.in_flight_guard();
    drop(admission);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(socket);
    });
    let report = run.await.unwrap();
    assert!(report.drained);
    assert_eq!(report.drain, Duration::from_secs(4), "{report}");
}

/// A tracked task that hands its work to a guard and ends: the drain waits
/// for the guard too.
#[tokio::test(start_paused = true)]
async fn a_guard_taken_by_a_tracked_task_during_the_drain_is_waited_for() {
    let shutdown = quiet().drain_timeout(Duration::from_secs(10)).build();
    shutdown.spawn({
        let shutdown = shutdown.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let work = shutdown.in_flight_guard();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                drop(work);
            });
        }
    });
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(report.drained);
    assert_eq!(report.drain, Duration::from_secs(4), "{report}");
}

/// A tracked task still running at the drain timeout is cut: aborted as
/// the drain ends, so it does not run on beside the hooks.
#[tokio::test(start_paused = true)]
async fn a_tracked_task_still_running_at_the_drain_timeout_is_cut() {
    let shutdown = quiet().drain_timeout(Duration::from_secs(2)).build();
    let steps = Arc::new(AtomicUsize::new(0));
    let task = shutdown.spawn({
        let steps = steps.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                steps.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    // A finished task is not aborted: its result stays.
    let finished = shutdown.spawn(async { 7 });
    shutdown
        .on_cleanup("db", {
            let steps = steps.clone();
            move |_| async move {
                let at_start = steps.load(Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                assert_eq!(steps.load(Ordering::SeqCst), at_start, "still running");
                Ok(())
            }
        })
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(!report.drained);
    assert_eq!(report.abandoned, 1);
    assert_eq!(report.hooks[0].outcome, HookOutcome::Ok, "{report}");
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(finished.await.unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn report_displays_and_serialises() {
    let shutdown = quiet().build();
    shutdown
        .on_cleanup("database", |_| async {
            tokio::time::sleep(Duration::from_millis(1001)).await;
            Ok(())
        })
        .unwrap();
    shutdown
        .register(
            hook_fn("cache", |_| async { Err::<(), BoxError>("refused".into()) })
                .phase(Phase::FLUSH),
        )
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    let text = report.to_string();
    assert!(
        text.starts_with("shutdown report: FAILED (manual trigger), total 1.001s, exit code 1"),
        "{text}"
    );
    assert!(
        text.contains("  1  flush        cache       0.000s  error: refused"),
        "{text}"
    );
    assert!(
        text.contains("  2  close        database    1.001s  ok"),
        "{text}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["reason"], serde_json::json!({"kind": "manual"}));
    assert_eq!(json["hooks"][0]["name"], "cache");
    assert_eq!(json["hooks"][0]["phase"], "flush");
    assert_eq!(json["hooks"][0]["outcome"], "error");
    assert_eq!(json["hooks"][0]["message"], "refused");
    assert_eq!(json["hooks"][1]["duration_seconds"], 1.001);
    assert_eq!(json["total_seconds"], 1.001);
    assert_eq!(json["abandoned"], 0);
}

#[tokio::test(start_paused = true)]
async fn exit_codes() {
    let clean = quiet().build();
    clean.trigger();
    assert_eq!(clean.run().await.exit_code(), 0);

    let fatal = quiet().failure_exit_code(3).build();
    fatal.trigger_with(Reason::Fatal("bind failed".into()));
    assert_eq!(fatal.run().await.exit_code(), 3);

    let late = quiet().timeout(Duration::from_secs(1)).build();
    let _stuck = late.in_flight_guard();
    late.trigger();
    let report = late.run().await;
    assert!(report.deadline_exceeded);
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn run_until_drives_a_service_through_shutdown() {
    let shutdown = quiet().drain_timeout(Duration::from_secs(5)).build();
    let log: Log = Log::default();
    register_logged(&shutdown, &log, "db", Phase::CLOSE, MS);
    let service = {
        let (shutdown, log) = (shutdown.clone(), log.clone());
        async move {
            shutdown.draining().await;
            log.lock().unwrap().push("service stopped".into());
            Ok::<(), std::io::Error>(())
        }
    };
    tokio::spawn({
        let s = shutdown.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            s.trigger();
        }
    });
    let report = shutdown.run_until(service).await;
    assert_eq!(report.reason, Reason::Manual);
    assert_eq!(report.exit_code(), 0);
    assert_eq!(
        *log.lock().unwrap(),
        ["service stopped", "start db", "end db"]
    );
}

#[tokio::test(start_paused = true)]
async fn run_until_a_service_that_returns_triggers_shutdown() {
    let shutdown = quiet().build();
    let report = shutdown
        .run_until(async { Ok::<(), std::io::Error>(()) })
        .await;
    assert_eq!(report.reason, Reason::ServiceExited);
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_second_run_gets_the_same_report() {
    let shutdown = quiet().build();
    shutdown.on_cleanup("x", |_| async { Ok(()) }).unwrap();
    let first = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    let second = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    shutdown.trigger();
    assert_eq!(first.await.unwrap(), second.await.unwrap());
}

struct Pool {
    closed: Arc<AtomicUsize>,
}

impl ShutdownHook for Pool {
    fn name(&self) -> &str {
        "pool"
    }
    fn phase(&self) -> Phase {
        Phase::CLOSE
    }
    fn timeout(&self) -> Option<Duration> {
        Some(Duration::from_secs(1))
    }
    async fn shutdown(self, ctx: HookContext) -> Result<(), BoxError> {
        assert_eq!(ctx.reason(), &Reason::Manual);
        assert_eq!((ctx.index(), ctx.total()), (1, 1));
        assert_eq!(ctx.remaining(), Duration::from_secs(1));
        self.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn trait_hooks_get_their_context() {
    let shutdown = quiet().build();
    let closed = Arc::new(AtomicUsize::new(0));
    shutdown
        .register(Pool {
            closed: closed.clone(),
        })
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(report.is_clean());
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_zero_announce_delay_does_not_wait_for_a_timer_tick() {
    // Off a millisecond boundary: a timer set for "now" would wait for the
    // next tick, and paused time would jump to it.
    tokio::time::advance(Duration::from_micros(300)).await;
    let shutdown = quiet().announce_delay(Duration::ZERO).build();
    shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    let start = Instant::now();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(report.announce, Duration::ZERO);
    assert_eq!(report.total, Duration::ZERO);
    assert_eq!(start.elapsed(), Duration::ZERO);
}
