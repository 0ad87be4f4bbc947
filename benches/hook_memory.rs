//! Heap memory per registered hook, counted by an allocator wrapper.
//!
//! Run with `cargo bench --bench hook_memory`.
//!
//! The workspace forbids `unsafe`, and a counting allocator needs an
//! `unsafe impl GlobalAlloc`; `stats_alloc` provides that impl, and
//! installing it with `#[global_allocator]` is safe code. The allocator only
//! applies to this benchmark binary. Figures are requested bytes (what the
//! program asks of the allocator, before the allocator's own per-block
//! overhead); blocks are counted too. A second
//! figure is what the allocator really takes: the growth of the process's
//! resident memory over 100,000 registrations, per hook.

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use winddown_core::Shutdown;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const HOOKS: usize = 1000;
/// The target: 1000 hooks in at most 100 KB.
const TARGET_BYTES: usize = 100 * 1000;

/// Live bytes and blocks added by `f`, and its result.
fn live<T>(f: impl FnOnce() -> T) -> (T, isize, isize) {
    let region = Region::new(GLOBAL);
    let value = f();
    let change = region.change();
    // Reallocations are already in these two (growth and shrinkage).
    let bytes = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    let blocks = change.allocations as isize - change.deallocations as isize;
    (value, bytes, blocks)
}

fn measure(label: &str, name: impl Fn(usize) -> String) -> bool {
    let shutdown = Shutdown::builder().no_signals().build();
    let ((), bytes, blocks) = live(|| {
        for i in 0..HOOKS {
            shutdown
                .on_cleanup(name(i), |_| async { Ok(()) })
                .expect("registration before the trigger succeeds");
        }
    });
    assert_eq!(shutdown.hook_count(), HOOKS);
    let per_hook = bytes as f64 / HOOKS as f64;
    let met = bytes as usize <= TARGET_BYTES;
    println!(
        "{label:<34} {HOOKS} hooks: {bytes:>7} B live in {blocks:>5} blocks = {per_hook:>6.1} B/hook ({})",
        if met {
            "target <= 100 KB met"
        } else {
            "target <= 100 KB MISSED"
        }
    );
    met
}

/// Resident memory of this process in bytes (Linux), if known.
fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // 4 KiB pages on the x86-64 and aarch64 Linux machines this runs on.
    Some(pages * 4096)
}

/// Resident-memory growth per hook over `n` registrations: the allocator's
/// own overhead included.
fn resident_per_hook(n: usize) -> Option<f64> {
    let shutdown = Shutdown::builder().no_signals().build();
    let before = resident_bytes()?;
    for i in 0..n {
        shutdown
            .on_cleanup(format!("hook-{i}"), |_| async { Ok(()) })
            .expect("registration before the trigger succeeds");
    }
    let after = resident_bytes()?;
    assert_eq!(shutdown.hook_count(), n);
    Some(after.saturating_sub(before) as f64 / n as f64)
}

fn main() {
    let (handle, bytes, blocks) = live(|| Shutdown::builder().no_signals().build());
    println!(
        "{:<34} {bytes:>7} B live in {blocks:>5} blocks",
        "handle (no_signals)"
    );
    drop(handle);
    let short = measure("on_cleanup, name \"db\"", |_| "db".to_owned());
    let numbered = measure("on_cleanup, name \"hook-{i}\"", |i| format!("hook-{i}"));
    const MANY: usize = 100_000;
    if let Some(per_hook) = resident_per_hook(MANY) {
        let thousand = per_hook * HOOKS as f64;
        println!(
            "{:<34} {MANY} hooks: {per_hook:>6.1} B/hook resident = {:>5.1} KB per {HOOKS} hooks ({})",
            "resident growth, \"hook-{i}\"",
            thousand / 1000.0,
            if thousand <= TARGET_BYTES as f64 {
                "target <= 100 KB met"
            } else {
                "target <= 100 KB MISSED"
            }
        );
    }
    if !(short && numbered) {
        std::process::exit(1);
    }
}
