//! Errors of the core API.

use crate::State;

/// A boxed error, the error type of a hook's shutdown step.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Registering a hook failed.
///
/// # Examples
///
/// ```
/// use winddown_core::{RegisterError, Shutdown};
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown.trigger();
/// let err = shutdown.on_cleanup("late", |_| async { Ok(()) }).unwrap_err();
/// assert!(matches!(err, RegisterError::ShuttingDown { .. }));
/// assert_eq!(
///     err.to_string(),
///     "cannot register shutdown hook \"late\": shutdown already started (state: announcing); register hooks before triggering"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Shutdown has already been triggered; the hook would never run in order.
    #[error(
        "cannot register shutdown hook {hook:?}: shutdown already started (state: {state}); register hooks before triggering"
    )]
    ShuttingDown {
        /// The name of the hook that was refused.
        hook: String,
        /// The state at the time of the attempt.
        state: State,
    },
}
