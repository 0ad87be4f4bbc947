//! The contracts that must hold where services run: hooks that react to
//! cancellation, failures after the trigger, deadlines whatever a hook's
//! thread does, pure defaults, and `wait` ending at the trigger.

use std::time::Duration;

use winddown_core::defaults::{self, HOOK_CANCEL_GRACE};
use winddown_core::{HookOutcome, Reason, Settings, Shutdown, State, hook_fn};

fn quiet() -> winddown_core::ShutdownBuilder {
    Shutdown::builder().no_signals()
}

fn flushing_hook(timeout: Option<Duration>) -> impl winddown_core::ShutdownHook {
    let hook = hook_fn("flush", |ctx| async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => Ok(()),
            _ = ctx.cancelled() => Err("cut, 12 records not flushed".into()),
        }
    });
    match timeout {
        Some(t) => hook.timeout(t),
        None => hook,
    }
}

#[tokio::test(start_paused = true)]
async fn a_hook_sees_its_cancellation_and_its_answer_is_kept() {
    let shutdown = quiet().build();
    shutdown
        .register(flushing_hook(Some(Duration::from_millis(300))))
        .unwrap();
    shutdown.on_cleanup("after", |_| async { Ok(()) }).unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(
        report.hooks[0].outcome,
        HookOutcome::Timeout(Some("cut, 12 records not flushed".into()))
    );
    // It reacted at once: no grace was used.
    assert_eq!(report.hooks[0].duration, Duration::from_millis(300));
    assert!(report.hooks[1].outcome.is_ok());
    assert!(
        report
            .to_string()
            .contains("timeout: cut, 12 records not flushed"),
        "{report}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["hooks"][0]["outcome"], "timeout");
    assert_eq!(json["hooks"][0]["message"], "cut, 12 records not flushed");
}

#[tokio::test(start_paused = true)]
async fn at_the_global_deadline_the_hook_is_cancelled_in_time_to_answer() {
    let shutdown = quiet().timeout(Duration::from_secs(2)).build();
    shutdown.register(flushing_hook(None)).unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(
        report.hooks[0].outcome,
        HookOutcome::Timeout(Some("cut, 12 records not flushed".into()))
    );
    // Cancelled a grace before the deadline, so the answer fits inside it.
    assert_eq!(report.total, Duration::from_secs(2) - HOOK_CANCEL_GRACE);
}

#[tokio::test(start_paused = true)]
async fn a_hook_that_ignores_cancellation_is_dropped_after_the_grace() {
    let shutdown = quiet().build();
    shutdown
        .register(
            hook_fn("stuck", |_| std::future::pending::<Result<(), _>>())
                .timeout(Duration::from_millis(300)),
        )
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(report.hooks[0].outcome, HookOutcome::Timeout(None));
    assert_eq!(
        report.hooks[0].duration,
        Duration::from_millis(300) + HOOK_CANCEL_GRACE
    );
}

/// Real time: a hook that blocks the only thread of a current_thread
/// runtime cannot be interrupted, but its overrun is never reported as ok.
#[test]
fn an_overrun_on_a_current_thread_runtime_is_a_timeout() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        let shutdown = quiet().build();
        shutdown
            .register(
                hook_fn("blocks", |_| async {
                    std::thread::sleep(Duration::from_millis(800));
                    Ok(())
                })
                .timeout(Duration::from_millis(100)),
            )
            .unwrap();
        shutdown.trigger();
        shutdown.run().await
    });
    assert_eq!(
        report.hooks[0].outcome,
        HookOutcome::Timeout(Some("returned ok after its deadline".into())),
        "{report}"
    );
    assert_eq!(report.exit_code(), 1);
}

/// Real time, multi-thread: the runner's rescue fires while the hook's
/// thread sleeps, for a hook that blocks and one that panics slowly.
#[test]
fn a_blocked_hook_thread_does_not_hold_the_deadline_on_a_multi_thread_runtime() {
    for workers in [1, 2] {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        let report = runtime.block_on(async {
            let shutdown = quiet().timeout(Duration::from_millis(400)).build();
            shutdown
                .register(hook_fn("blocks", |_| async {
                    std::thread::sleep(Duration::from_millis(1500));
                    Ok(())
                }))
                .unwrap();
            shutdown.on_cleanup("after", |_| async { Ok(()) }).unwrap();
            shutdown.trigger();
            shutdown.run().await
        });
        assert_eq!(report.hooks[0].outcome, HookOutcome::Timeout(None));
        // 400 ms deadline, 10 ms rescue margin, and room for a loaded machine.
        assert!(
            report.total < Duration::from_millis(700),
            "{workers} workers: {report}"
        );
        assert!(report.deadline_exceeded);
        // The blocked hook still sleeps on its thread: do not wait for it.
        runtime.shutdown_background();
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_failure_after_the_trigger_is_reported() {
    let shutdown = quiet().build();
    let service = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.draining().await;
            Err::<(), _>("connection pool poisoned")
        }
    };
    shutdown.trigger();
    let report = shutdown.run_until(service).await;
    assert_eq!(report.reason, Reason::Manual);
    assert_eq!(
        report.service_error.as_deref(),
        Some("connection pool poisoned")
    );
    assert_eq!(report.exit_code(), 1);
    assert!(
        report
            .to_string()
            .contains("service failed while shutting down: connection pool poisoned"),
        "{report}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["service_error"], "connection pool poisoned");
    assert_eq!(shutdown.report(), Some(report));
}

#[tokio::test(start_paused = true)]
async fn a_service_panic_after_the_trigger_is_reported() {
    let shutdown = quiet().build();
    let service = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cleanup_started().await;
            if shutdown.is_shutting_down() {
                panic!("listener task blew up");
            }
            Ok::<(), String>(())
        }
    };
    shutdown.trigger();
    let report = shutdown.run_until(service).await;
    assert_eq!(
        report.service_error.as_deref(),
        Some("service task panicked: listener task blew up")
    );
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_service_failure_in_the_final_grace_is_reported() {
    let shutdown = quiet().build();
    let service = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.done().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err::<(), _>("final flush failed")
        }
    };
    shutdown.trigger();
    let report = shutdown.run_until(service).await;
    assert_eq!(report.service_error.as_deref(), Some("final flush failed"));
    assert_eq!(report.exit_code(), 1);
    assert_eq!(shutdown.report(), Some(report));
}

/// Done after the global deadline (a before-done step, like a linger, ran
/// past it): the service still gets its final grace to write out what it
/// is sending (the last scrape) instead of being dropped at once.
#[tokio::test(start_paused = true)]
async fn the_final_grace_is_given_when_done_comes_after_the_deadline() {
    let shutdown = quiet().timeout(Duration::from_secs(2)).build();
    shutdown
        .before_done("linger", |_| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
        })
        .unwrap();
    let flushed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let service = {
        let (shutdown, flushed) = (shutdown.clone(), flushed.clone());
        async move {
            shutdown.done().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            flushed.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok::<(), String>(())
        }
    };
    shutdown.trigger();
    let report = shutdown.run_until(service).await;
    assert!(flushed.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(report.exit_code(), 0, "{report}");
}

#[tokio::test(start_paused = true)]
async fn a_clean_service_exit_after_the_trigger_stays_clean() {
    let shutdown = quiet().build();
    let service = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.draining().await;
            Ok::<(), String>(())
        }
    };
    shutdown.trigger();
    let report = shutdown.run_until(service).await;
    assert_eq!(report.service_error, None);
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test(start_paused = true)]
async fn wait_before_the_trigger_returns_false_at_the_trigger() {
    let shutdown = quiet().timeout(Duration::from_secs(30)).build();
    let trigger = {
        let shutdown = shutdown.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            shutdown.trigger();
        }
    };
    let start = tokio::time::Instant::now();
    let (held, ()) = tokio::join!(shutdown.wait(|| false, Duration::from_millis(50)), trigger);
    assert!(!held);
    // At the trigger, not at the 30 s timeout.
    assert!(
        start.elapsed() < Duration::from_millis(2100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(shutdown.state(), State::Announcing);
}

#[tokio::test(start_paused = true)]
async fn waits_before_the_trigger_have_no_timeout_of_their_own() {
    let shutdown = quiet().timeout(Duration::from_secs(1)).build();
    let ready = std::sync::atomic::AtomicBool::new(false);
    let set = async {
        tokio::time::sleep(Duration::from_secs(90)).await;
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let (held, ()) = tokio::join!(
        shutdown.wait(
            || ready.load(std::sync::atomic::Ordering::SeqCst),
            Duration::from_millis(100)
        ),
        set
    );
    assert!(held, "no trigger came, so the condition was waited for");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let trigger = {
        let shutdown = shutdown.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            shutdown.trigger();
        }
    };
    let (got, ()) = tokio::join!(shutdown.with_deadline(rx), trigger);
    assert_eq!(got, None, "with_deadline gives up at the trigger");
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn wait_during_shutdown_runs_until_the_deadline() {
    let shutdown = quiet().timeout(Duration::from_secs(3)).build();
    shutdown.trigger();
    let start = tokio::time::Instant::now();
    assert!(!shutdown.wait(|| false, Duration::from_millis(100)).await);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[test]
fn defaults_do_not_read_the_environment() {
    // Run in a child with the Kubernetes variable set (the process's own
    // environment cannot be changed safely from a test).
    if std::env::var_os("WINDDOWN_DEFAULTS_CHILD").is_some() {
        let settings = Settings::default();
        assert_eq!(settings.announce_delay, Duration::ZERO);
        assert_eq!(Shutdown::new().settings().announce_delay, Duration::ZERO);
        assert_eq!(
            Shutdown::builder()
                .announce_delay_from_env()
                .settings()
                .announce_delay,
            defaults::KUBERNETES_ANNOUNCE_DELAY
        );
        // The parent knows the checks ran (not a filter matching no test).
        println!("RESULT defaults checked");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "defaults_do_not_read_the_environment",
            "--test-threads=1",
            "--nocapture",
        ])
        .env("WINDDOWN_DEFAULTS_CHILD", "1")
        .env("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the child test failed: {}\n{stdout}",
        output.status
    );
    assert!(stdout.contains("RESULT defaults checked"), "{stdout}");
}

#[tokio::test(start_paused = true)]
async fn huge_durations_mean_never_rather_than_a_panic() {
    let shutdown = quiet()
        .timeout(Duration::MAX)
        .announce_delay(Duration::from_millis(10))
        .drain_timeout(Duration::MAX)
        .hook_timeout(Duration::MAX)
        .build();
    shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    assert!(shutdown.wait(|| true, Duration::MAX).await);
    shutdown.trigger();
    assert!(shutdown.deadline().is_some());
    let report = shutdown.run().await;
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.announce, Duration::from_millis(10));
}
