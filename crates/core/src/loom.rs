//! The synchronisation primitives the state machine and the in-flight counter
//! use: `std`'s normally, loom's under `cfg(winddown_loom)` so that model tests
//! explore every interleaving (run them with
//! `RUSTFLAGS="--cfg winddown_loom" cargo test -p winddown-core --lib --release loom`).
//!
//! The cfg is project-specific rather than the usual `cfg(loom)` because
//! tokio, a dependency, reads `cfg(loom)` itself and does not build with it
//! outside its own repository.

#[cfg(winddown_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicUsize};
#[cfg(not(winddown_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize};
