//! `Shutdown::before_done`: steps that run after the report is final and
//! before the state is done.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::DebuggingRecorder;
use tokio::time::Instant;
use winddown_core::metric_names::{HOOK_DURATION_SECONDS, SHUTDOWN_DURATION_SECONDS};
use winddown_core::{RegisterError, Shutdown, State};

fn quiet() -> Shutdown {
    Shutdown::builder().no_signals().build()
}

#[tokio::test(start_paused = true)]
async fn steps_run_in_order_after_the_hooks_and_before_done() {
    let shutdown = quiet();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    shutdown
        .on_cleanup("db", {
            let log = log.clone();
            |_| async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                log.lock().unwrap().push("hook db".into());
                Ok(())
            }
        })
        .unwrap();
    for name in ["first", "second"] {
        let (log, shutdown2) = (log.clone(), shutdown.clone());
        shutdown
            .before_done(name, move |report| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                log.lock().unwrap().push(format!(
                    "{name}: state={} report_set={} hooks={} total={:?}",
                    shutdown2.state(),
                    shutdown2.report().is_some(),
                    report.hooks.len(),
                    report.total
                ));
            })
            .unwrap();
    }

    let done = shutdown.done();
    let start = Instant::now();
    shutdown.trigger();
    let report = shutdown.run().await;
    done.await;

    assert_eq!(
        *log.lock().unwrap(),
        [
            "hook db".to_owned(),
            "first: state=cleanup report_set=true hooks=1 total=300ms".to_owned(),
            "second: state=cleanup report_set=true hooks=1 total=300ms".to_owned(),
        ]
    );
    // The report does not include the steps; reaching done does.
    assert_eq!(report.total, Duration::from_millis(300));
    assert_eq!(start.elapsed(), Duration::from_millis(700));
    assert_eq!(shutdown.state(), State::Done);
}

#[tokio::test(start_paused = true)]
async fn a_second_run_waits_for_the_steps() {
    let shutdown = quiet();
    shutdown
        .before_done("slow", |_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .unwrap();
    shutdown.trigger();
    let start = Instant::now();
    let driver = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.run().await }
    });
    tokio::task::yield_now().await;
    let second = shutdown.run().await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(second, driver.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn registering_a_step_after_the_trigger_is_an_error() {
    let shutdown = quiet();
    shutdown.trigger();
    let err = shutdown.before_done("late", |_| async {}).unwrap_err();
    assert_eq!(
        err,
        RegisterError::ShuttingDown {
            hook: "late".into(),
            state: State::Announcing
        }
    );
}

#[test]
fn steps_see_every_metric_of_the_sequence() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let shutdown = quiet();
            shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
            let seen = seen.clone();
            shutdown
                .before_done("export", move |_| async move {
                    let mut names: Vec<String> = snapshotter
                        .snapshot()
                        .into_vec()
                        .into_iter()
                        .map(|(key, ..)| key.key().name().to_owned())
                        .collect();
                    names.sort();
                    *seen.lock().unwrap() = names;
                })
                .unwrap();
            shutdown.trigger();
            shutdown.run().await;
        });
    });
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|n| n == HOOK_DURATION_SECONDS), "{seen:?}");
    assert!(
        seen.iter().any(|n| n == SHUTDOWN_DURATION_SECONDS),
        "{seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_is_logged_and_the_next_steps_still_run() {
    let shutdown = quiet();
    let pushed = Arc::new(Mutex::new(false));
    shutdown
        .before_done("linger", |_| async { panic!("scrape listener bug") })
        .unwrap();
    shutdown
        .before_done("push", {
            let pushed = pushed.clone();
            move |_| async move { *pushed.lock().unwrap() = true }
        })
        .unwrap();
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(*pushed.lock().unwrap());
    assert_eq!(shutdown.state(), State::Done);
    assert_eq!(
        report.exit_code(),
        0,
        "the report was final before the steps"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_failure_while_the_steps_run_is_in_the_report() {
    let shutdown = quiet();
    shutdown
        .before_done("linger", |_| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
        })
        .unwrap();
    let service = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cleanup_started().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            // The step is still lingering: not done yet.
            assert_eq!(shutdown.state(), State::Cleanup);
            Err::<(), _>("listener failed")
        }
    };
    shutdown.trigger();
    let report = shutdown.run_until(service).await;
    assert_eq!(report.service_error.as_deref(), Some("listener failed"));
    assert_eq!(report.exit_code(), 1);
    assert_eq!(shutdown.report(), Some(report));
}

#[tokio::test(start_paused = true)]
async fn a_step_name_is_escaped_in_the_log() {
    let logs = winddown_testkit::LogCapture::default();
    let _default = tracing::subscriber::set_default(logs.subscriber());
    let shutdown = quiet();
    let forged = "export\nFORGED  INFO winddown: all good";
    shutdown
        .before_done(forged, |_| async { tracing::info!("pushed") })
        .unwrap();
    shutdown
        .before_done("broken\nFORGED", |_| async { panic!("bad\nFORGED") })
        .unwrap();
    shutdown.trigger();
    shutdown.run().await;
    let text = logs.text();
    assert!(text.contains("pushed"), "{text}");
    assert!(text.contains("export\\nFORGED"), "{text}");
    assert!(
        !text.lines().any(|line| line.starts_with("FORGED")),
        "{text}"
    );
}
