//! The request gate under real threads: an admission that races the start of
//! draining is either refused or waited for, never lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use winddown_core::{Shutdown, State};

#[test]
fn admissions_racing_the_drain_start_are_refused_or_waited_for() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut admitted_total = 0;
    for _ in 0..200 {
        let shutdown = Shutdown::builder()
            .no_signals()
            .announce_delay(Duration::ZERO)
            .drain_timeout(Duration::from_secs(30))
            .build();
        let admitted = Arc::new(AtomicUsize::new(0));
        let admitters: Vec<_> = (0..2)
            .map(|_| {
                let gate = shutdown.request_gate();
                let shutdown = shutdown.clone();
                let admitted = admitted.clone();
                thread::spawn(move || {
                    // Until the gate refuses, which it does from the start
                    // of draining on.
                    while let Some(admission) = gate.try_admit() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                        for _ in 0..50 {
                            std::hint::spin_loop();
                        }
                        // Held: the drain cannot have ended.
                        let state = shutdown.state();
                        assert!(
                            state <= State::Draining,
                            "drained past an admission: {state}"
                        );
                        assert!(!admission.is_drain_ended());
                        drop(admission);
                    }
                })
            })
            .collect();
        // Both admitting before the trigger, so that the drain starts among
        // admissions.
        while admitted.load(Ordering::Relaxed) < 2 {
            thread::yield_now();
        }
        let report = runtime.block_on(async {
            shutdown.trigger();
            shutdown.run().await
        });
        for admitter in admitters {
            admitter.join().expect("an admitter thread");
        }
        assert!(report.drained, "{report}");
        assert_eq!(report.abandoned, 0);
        assert_eq!(shutdown.in_flight_count(), 0);
        assert!(shutdown.request_gate().try_admit().is_none());
        admitted_total += admitted.load(Ordering::Relaxed);
    }
    assert!(admitted_total >= 400);
}

#[tokio::test(start_paused = true)]
async fn admissions_are_counted_waited_for_and_abandoned_at_the_drain_timeout() {
    let shutdown = Shutdown::builder()
        .no_signals()
        .drain_timeout(Duration::from_secs(2))
        .build();
    let gate = shutdown.request_gate();
    let quick = gate.try_admit().expect("admitted");
    let stuck = gate.try_admit().expect("admitted");
    let guard = shutdown.in_flight_guard();
    assert_eq!(shutdown.in_flight_count(), 3);

    shutdown.trigger();
    // Announcing: still admitted.
    let late = gate.try_admit().expect("admitted while announcing");
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.run().await }
    });
    shutdown.draining().await;
    assert!(gate.try_admit().is_none());
    assert_eq!(shutdown.in_flight_count(), 4);
    drop((quick, late, guard));
    assert_eq!(shutdown.in_flight_count(), 1);

    stuck.drain_ended().await;
    assert!(stuck.is_drain_ended());
    let report = run.await.expect("the run task");
    assert!(!report.drained);
    assert_eq!(report.abandoned, 1);
    drop(stuck);
    assert_eq!(shutdown.in_flight_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_drain_ends_when_the_last_admission_does() {
    let shutdown = Shutdown::builder()
        .no_signals()
        .drain_timeout(Duration::from_secs(30))
        .build();
    let admission = shutdown.request_gate().try_admit().expect("admitted");
    shutdown.trigger();
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { shutdown.run().await }
    });
    shutdown.draining().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(admission);
    let report = run.await.expect("the run task");
    assert!(report.drained);
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.drain, Duration::from_secs(3));
}
