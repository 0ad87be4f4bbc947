//! Micro-benchmarks of the core: the state check, handle construction, hook
//! registration and the hook runner.
//!
//! Run with `cargo bench --bench core`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use winddown_core::Shutdown;

/// How many hooks one registration batch or one runner pass holds.
const HOOKS: u64 = 1000;

fn handle() -> Shutdown {
    Shutdown::builder().no_signals().build()
}

fn state_check(c: &mut Criterion) {
    let mut group = c.benchmark_group("is_shutting_down");
    let running = handle();
    group.bench_function("running", |b| {
        b.iter(|| black_box(&running).is_shutting_down())
    });
    let triggered = handle();
    triggered.trigger();
    group.bench_function("triggered", |b| {
        b.iter(|| black_box(&triggered).is_shutting_down())
    });
    group.finish();
}

fn construction(c: &mut Criterion) {
    let mut group = c.benchmark_group("handle");
    // Construction alone: the handles are dropped outside the measurement.
    group.bench_function("build", |b| b.iter_with_large_drop(handle));
    group.bench_function("build_and_drop", |b| b.iter(handle));
    let shared = handle();
    group.bench_function("clone_and_drop", |b| b.iter(|| black_box(&shared).clone()));
    group.finish();
}

/// One iteration is one `on_cleanup` call, into handles of up to 1000 hooks
/// (a fresh handle per 1000, built and dropped outside the measurement).
fn registration(c: &mut Criterion) {
    c.bench_function("register/on_cleanup", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(HOOKS);
                let shutdown = handle();
                let start = Instant::now();
                for _ in 0..n {
                    black_box(shutdown.on_cleanup("hook", |_| async { Ok(()) }))
                        .expect("registration before the trigger succeeds");
                }
                total += start.elapsed();
                drop(shutdown);
                left -= n;
            }
            total
        })
    });
}

/// The whole sequence with `hooks` no-op hooks and zero delays, on a
/// current-thread runtime: one iteration is one hook (one sequence for zero
/// hooks), so the figure is the time per hook.
fn sequence(rt: &tokio::runtime::Runtime, hooks: u64, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let runs = if hooks == 0 {
        iters
    } else {
        iters.div_ceil(hooks)
    };
    for _ in 0..runs {
        let shutdown = handle();
        for _ in 0..hooks {
            shutdown
                .on_cleanup("noop", |_| async { Ok(()) })
                .expect("registration before the trigger succeeds");
        }
        shutdown.trigger();
        let start = Instant::now();
        let report = rt.block_on(shutdown.run());
        total += start.elapsed();
        assert_eq!(report.hooks.len() as u64, hooks);
        assert_eq!(report.exit_code(), 0);
    }
    if hooks == 0 {
        total
    } else {
        // Scale to exactly `iters` hooks.
        total.mul_f64(iters as f64 / (runs * hooks) as f64)
    }
}

fn runner(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let mut group = c.benchmark_group("runner");
    group.bench_function("sequence_without_hooks", |b| {
        b.iter_custom(|iters| sequence(&rt, 0, iters))
    });
    group.bench_function("per_hook_of_1000", |b| {
        b.iter_custom(|iters| sequence(&rt, HOOKS, iters))
    });
    group.finish();
}

criterion_group!(benches, state_check, construction, registration, runner);
criterion_main!(benches);
