//! The `ShutdownHook` trait, its context, and closure hooks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::wait::{wait_condition, wait_future};
use crate::{BoxError, Phase, Reason};

/// A component's ordered, async cleanup step.
///
/// Implement it for a database pool, a queue consumer or a telemetry
/// flusher, then [`register`](crate::Shutdown::register) it. Hooks run during
/// the cleanup state, phase by phase in ascending [`Phase`] order, and inside a
/// phase in registration order (or all at once if the phase is
/// [concurrent](crate::ShutdownBuilder::concurrent_phase)).
///
/// Fail-safe: an error, a panic or a timeout is recorded in the
/// [`ShutdownReport`](crate::ShutdownReport) and logged, and the remaining
/// hooks still run. A hook that is still running at its deadline is cancelled
/// (its [`HookContext::cancelled`] fires first, then its future is dropped at
/// its next `.await`). A hook whose own wait ends at that same deadline (a
/// [`HookContext::wait`] returning `false`) is polled first, so it returns
/// its own result rather than a timeout.
///
/// # Examples
///
/// ```
/// use winddown_core::{BoxError, HookContext, Phase, Shutdown, ShutdownHook};
/// use std::time::Duration;
///
/// struct Pool;
///
/// impl ShutdownHook for Pool {
///     fn name(&self) -> &str {
///         "database-pool"
///     }
///     fn phase(&self) -> Phase {
///         Phase::CLOSE
///     }
///     fn timeout(&self) -> Option<Duration> {
///         Some(Duration::from_secs(2))
///     }
///     async fn shutdown(self, ctx: HookContext) -> Result<(), BoxError> {
///         // close connections, bounded by ctx.deadline()
///         let _ = ctx.remaining();
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown.register(Pool).unwrap();
/// shutdown.trigger();
/// let report = shutdown.run().await;
/// assert_eq!(report.hooks[0].name, "database-pool");
/// assert!(report.hooks[0].outcome.is_ok());
/// # }
/// ```
pub trait ShutdownHook: Send + 'static {
    /// The name used in logs, metrics labels and the report.
    fn name(&self) -> &str;

    /// The phase the hook runs in; [`Phase::CLOSE`] by default.
    fn phase(&self) -> Phase {
        Phase::CLOSE
    }

    /// The hook's own timeout; the shutdown's default hook timeout if `None`.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// The cleanup step itself.
    fn shutdown(self, ctx: HookContext) -> impl Future<Output = Result<(), BoxError>> + Send;
}

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'static>>;

/// A registered hook as it waits: the hook itself behind one box, its name,
/// phase and timeout inside it. A registration costs that box, the name's
/// own allocation and a 16-byte slot in the registry (about 60 bytes for a
/// closure hook with a short name; `benches/hook_memory.rs` measures it).
pub(crate) type Stored = Box<dyn ErasedHook>;

/// A hook about to run: its phase, read once for ordering, and the hook.
pub(crate) struct Registered {
    pub(crate) phase: Phase,
    pub(crate) hook: Stored,
}

impl Registered {
    pub(crate) fn new(hook: Stored) -> Self {
        Registered {
            phase: hook.phase(),
            hook,
        }
    }
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("name", &self.hook.name())
            .field("phase", &self.phase)
            .field("timeout", &self.hook.timeout())
            .finish_non_exhaustive()
    }
}

/// The object-safe form of [`ShutdownHook`].
pub(crate) trait ErasedHook: Send {
    fn name(&self) -> &str;
    fn phase(&self) -> Phase;
    fn timeout(&self) -> Option<Duration>;
    fn run(self: Box<Self>, ctx: HookContext) -> BoxFuture;
}

impl<H: ShutdownHook> ErasedHook for H {
    fn name(&self) -> &str {
        ShutdownHook::name(self)
    }

    fn phase(&self) -> Phase {
        ShutdownHook::phase(self)
    }

    fn timeout(&self) -> Option<Duration> {
        ShutdownHook::timeout(self)
    }

    fn run(self: Box<Self>, ctx: HookContext) -> BoxFuture {
        Box::pin((*self).shutdown(ctx))
    }
}

/// What a hook gets when it runs: its deadline, a cancellation token that
/// fires at that deadline, and why shutdown started.
///
/// # Examples
///
/// ```
/// use winddown_core::{Shutdown, hook_fn};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown
///     .register(
///         hook_fn("flush", |ctx| async move {
///             assert!(ctx.remaining() <= Duration::from_millis(500));
///             println!("flushing because of {}", ctx.reason());
///             Ok(())
///         })
///         .timeout(Duration::from_millis(500)),
///     )
///     .unwrap();
/// shutdown.trigger();
/// assert_eq!(shutdown.run().await.exit_code(), 0);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HookContext {
    pub(crate) name: String,
    pub(crate) phase: Phase,
    pub(crate) deadline: Instant,
    pub(crate) token: CancellationToken,
    pub(crate) reason: Reason,
    pub(crate) index: usize,
    pub(crate) total: usize,
}

impl HookContext {
    /// The hook's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hook's phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The instant by which the hook must be done: its own timeout, capped by
    /// the global shutdown deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left until [`deadline`](Self::deadline) (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// A token that is cancelled when the deadline is reached.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Resolves when the deadline is reached. Cancel safe.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Why shutdown started.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// This hook's position (1-based) in the whole run.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many hooks run in total.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Polls `condition` every `poll_interval` until it is true (returns
    /// `true`) or the hook's deadline passes (returns `false`). The hook can
    /// act on `false` (log what is left, return an error): at its deadline
    /// the hook is polled before it is timed out.
    ///
    /// Cancel safe.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{HookOutcome, Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let queue_len = || 3; // a queue that never empties
    /// shutdown
    ///     .register(
    ///         hook_fn("drain-queue", move |ctx| async move {
    ///             if ctx.wait(|| queue_len() == 0, Duration::from_millis(50)).await {
    ///                 Ok(())
    ///             } else {
    ///                 Err(format!("{} jobs left", queue_len()).into())
    ///             }
    ///         })
    ///         .timeout(Duration::from_secs(1)),
    ///     )
    ///     .unwrap();
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert_eq!(report.hooks[0].outcome, HookOutcome::Error("3 jobs left".into()));
    /// # }
    /// ```
    pub async fn wait<C: FnMut() -> bool>(&self, condition: C, poll_interval: Duration) -> bool {
        wait_condition(condition, poll_interval, self.deadline).await
    }

    /// Runs `future` until it completes (`Some(output)`) or the hook's
    /// deadline passes (`None`). The event-driven form of [`wait`](Self::wait).
    ///
    /// Cancel safe if `future` is.
    pub async fn wait_for<F: Future>(&self, future: F) -> Option<F::Output> {
        wait_future(future, self.deadline).await
    }
}

/// A hook made from a closure; see [`hook_fn`].
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
    pub fn phase(mut self, phase: Phase) -> Self {
        self.phase = phase;
        self
    }

    /// Sets the hook's own timeout.
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
