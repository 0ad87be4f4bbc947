//! Hooks made from closures: the seed's `register(cb)` / `@on_cleanup`.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::{BoxError, HookContext, Phase, ShutdownHook};

/// A hook made from a closure; see [`hook_fn`].
///
/// ```
/// use std::time::Duration;
/// use winddown_core::{FnHook, Phase, hook_fn};
///
/// let hook: FnHook<_> = hook_fn("flush", |_ctx| async { Ok(()) })
///     .phase(Phase::FLUSH)
///     .timeout(Duration::from_secs(2));
/// # drop(hook);
/// ```
#[must_use = "a hook does nothing until it is registered"]
pub struct FnHook<F> {
    // Not a `String`: 8 bytes less in every registered hook.
    name: Box<str>,
    phase: Phase,
    timeout: Option<Duration>,
    f: F,
}

/// Makes a [`ShutdownHook`] from a name and an async closure, in
/// [`Phase::CLOSE`] with the default timeout unless told otherwise.
///
/// # Examples
///
/// ```
/// use winddown_core::{Phase, Shutdown, hook_fn};
/// use std::time::Duration;
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown
///     .register(
///         hook_fn("stop-consumer", |_ctx| async { Ok(()) })
///             .phase(Phase::STOP_INTAKE)
///             .timeout(Duration::from_secs(1)),
///     )
///     .unwrap();
/// ```
pub fn hook_fn<F, Fut>(name: impl Into<String>, f: F) -> FnHook<F>
where
    F: FnOnce(HookContext) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    FnHook {
        name: name.into().into_boxed_str(),
        phase: Phase::CLOSE,
        timeout: None,
        f,
    }
}

impl<F> FnHook<F> {
    /// Sets the phase.
    ///
    /// ```
    /// use winddown_core::{Phase, hook_fn};
    /// let _hook = hook_fn("consumer", |_| async { Ok(()) }).phase(Phase::STOP_INTAKE);
    /// ```
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }

    /// Sets the hook's own timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let _hook = winddown_core::hook_fn("db", |_| async { Ok(()) }).timeout(Duration::from_secs(2));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<F> fmt::Debug for FnHook<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnHook")
            .field("name", &self.name)
            .field("phase", &self.phase)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<F, Fut> ShutdownHook for FnHook<F>
where
    F: FnOnce(HookContext) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn phase(&self) -> Phase {
        self.phase
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn shutdown(self, ctx: HookContext) -> impl Future<Output = Result<(), BoxError>> + Send {
        (self.f)(ctx)
    }
}
