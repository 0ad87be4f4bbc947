//! Loom models of the state cell and the in-flight counter.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::State;
use crate::inflight::Counter;
use crate::sequence::StateCell as Lifecycle;

#[test]
fn exactly_one_trigger_wins_and_state_never_goes_back() {
    loom::model(|| {
        let cell = Arc::new(Lifecycle::new());
        let wins = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (cell, wins) = (cell.clone(), wins.clone());
                thread::spawn(move || {
                    if cell.try_trigger() {
                        wins.fetch_add(1, Ordering::SeqCst);
                    }
                    let seen = cell.load();
                    assert!(seen >= State::Announcing, "a trigger was lost: {seen}");
                })
            })
            .collect();
        let driver = {
            let cell = cell.clone();
            thread::spawn(move || {
                // The driver advances only once triggered, as `run` does.
                if cell.is_triggered() {
                    assert!(cell.advance(State::Draining));
                    assert!(!cell.advance(State::Announcing));
                }
            })
        };
        for h in handles {
            h.join().unwrap();
        }
        driver.join().unwrap();
        assert_eq!(wins.load(Ordering::SeqCst), 1);
        assert!(cell.load() >= State::Announcing);
    });
}

#[test]
fn the_last_exit_is_seen_exactly_once() {
    loom::model(|| {
        let counter = Arc::new(Counter::default());
        counter.enter();
        counter.enter();
        assert_eq!(counter.mark_waiting(), 2);
        let idle_seen = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (counter, idle_seen) = (counter.clone(), idle_seen.clone());
                thread::spawn(move || {
                    if counter.exit() {
                        idle_seen.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        // A concurrent reader never sees more than were entered.
        assert!(counter.get() <= 2);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(counter.get(), 0);
        assert_eq!(idle_seen.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn enter_during_exit_keeps_the_count_consistent() {
    loom::model(|| {
        let counter = Arc::new(Counter::default());
        counter.enter();
        counter.mark_waiting();
        let a = {
            let counter = counter.clone();
            thread::spawn(move || counter.exit())
        };
        let b = {
            let counter = counter.clone();
            thread::spawn(move || {
                counter.enter();
                counter.exit()
            })
        };
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        // Whichever order they ran in, at least one exit saw the count reach
        // zero, and the count ends at zero.
        assert!(a || b);
        assert_eq!(counter.get(), 0);
    });
}

#[test]
fn a_waiter_and_the_last_exit_never_miss_each_other() {
    loom::model(|| {
        let counter = Arc::new(Counter::default());
        counter.enter();
        let waiter = {
            let counter = counter.clone();
            // `wait_idle`: returns at once if it sees zero, else sleeps
            // until an exit wakes it.
            thread::spawn(move || counter.mark_waiting() == 0)
        };
        let worker = {
            let counter = counter.clone();
            thread::spawn(move || counter.exit())
        };
        let (saw_zero, woke) = (waiter.join().unwrap(), worker.join().unwrap());
        // Exactly one of them: never both asleep, never a needless wake-up.
        assert!(saw_zero != woke);
        assert_eq!(counter.get(), 0);
    });
}

#[test]
fn without_a_waiter_no_exit_wakes_anyone() {
    loom::model(|| {
        let counter = Arc::new(Counter::default());
        counter.enter();
        let a = {
            let counter = counter.clone();
            thread::spawn(move || {
                counter.enter();
                counter.exit()
            })
        };
        let b = counter.exit();
        assert!(!a.join().unwrap() && !b);
        assert_eq!(counter.get(), 0);
    });
}

#[test]
fn an_admission_racing_the_drain_start_is_waited_for_or_refused() {
    loom::model(|| {
        let counter = Arc::new(Counter::default());
        let drain = {
            let counter = counter.clone();
            // The drain: close admission, then wait for zero.
            thread::spawn(move || {
                counter.close();
                counter.mark_waiting()
            })
        };
        let worker = {
            let counter = counter.clone();
            thread::spawn(move || match counter.try_enter() {
                Ok(()) => (true, counter.exit()),
                Err(woke) => (false, woke),
            })
        };
        let seen = drain.join().unwrap();
        let (admitted, woke) = worker.join().unwrap();
        // The drain saw zero, or an exit (the unit's own or the undoing one
        // of a refusal) wakes it: never both asleep. (A refusal that comes
        // after the drain saw zero may wake no one needlessly.)
        assert!(
            seen == 0 || woke,
            "the drain saw {seen} and was never woken"
        );
        // An admitted unit was counted before admission closed: the drain
        // saw it, unless it had already left.
        if admitted && seen == 0 {
            assert!(!woke, "an admitted unit left after the drain saw zero");
        }
        assert_eq!(counter.get(), 0);
        // Once closed, nothing is admitted any more.
        assert!(counter.try_enter().is_err());
    });
}
