//! The shutdown sequence: its states, the atomic cell that holds the current
//! one, and the driver that moves it forward.
//!
//! ```text
//! Running --trigger--> Announcing --announce_delay--> Draining --drained or drain_timeout--> Cleanup --> Done
//! ```
//!
//! - `state.rs`: the [`State`] values.
//! - `cell.rs`: the lock-free cell; it only moves forward.
//! - `driver.rs`: [`Shutdown::run`](crate::Shutdown::run), which announces,
//!   drains, runs the hooks and builds the report under the global deadline.
//! - `service.rs`: [`Shutdown::run_until`](crate::Shutdown::run_until), the
//!   scope form that runs a service beside the sequence.

mod cell;
mod driver;
mod service;
mod state;

pub(crate) use cell::StateCell;
pub use state::State;
