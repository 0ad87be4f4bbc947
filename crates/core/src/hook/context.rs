//! What a hook gets when it runs.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::wait::{wait_condition, wait_future};
use crate::{Phase, Reason};

/// What a hook gets when it runs: its deadline, a cancellation token that
/// fires at that deadline, and why shutdown started.
///
/// See [`ShutdownHook`](crate::ShutdownHook) for what happens at the
/// deadline: the token fires, and the hook has a short grace to return.
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
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |ctx| async move {
    ///     assert_eq!((ctx.name(), ctx.index(), ctx.total()), ("db", 1, 1));
    ///     assert_eq!(ctx.phase(), winddown_core::Phase::CLOSE);
    ///     assert!(!ctx.token().is_cancelled());
    ///     Ok(())
    /// }).unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 0);
    /// # }
    /// ```
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

    /// Resolves when the deadline is reached and the hook is asked to stop.
    /// The hook still has [`HOOK_CANCEL_GRACE`](crate::defaults::HOOK_CANCEL_GRACE)
    /// to return; what it returns is kept in the report.
    ///
    /// # Cancel safety
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
    /// shutdown
    ///     .register(
    ///         hook_fn("flush", |ctx| async move {
    ///             tokio::select! {
    ///                 _ = tokio::time::sleep(Duration::from_secs(60)) => Ok(()),
    ///                 _ = ctx.cancelled() => Err("cut: 12 records not flushed".into()),
    ///             }
    ///         })
    ///         .timeout(Duration::from_secs(1)),
    ///     )
    ///     .unwrap();
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert_eq!(
    ///     report.hooks[0].outcome,
    ///     HookOutcome::Timeout(Some("cut: 12 records not flushed".into()))
    /// );
    /// assert_eq!(report.hooks[0].duration, Duration::from_secs(1));
    /// # }
    /// ```
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
    /// # Cancel safety
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
        wait_condition(condition, poll_interval, Some(self.deadline)).await
    }

    /// Runs `future` until it completes (`Some(output)`) or the hook's
    /// deadline passes (`None`). The event-driven form of [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe if `future` is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown
    ///     .register(hook_fn("consumer", |ctx| async move {
    ///         let (_tx, stopped) = tokio::sync::oneshot::channel::<()>();
    ///         match ctx.with_deadline(stopped).await {
    ///             Some(_) => Ok(()),
    ///             None => Err("consumer did not stop in time".into()),
    ///         }
    ///     }).timeout(Duration::from_secs(1)))
    ///     .unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 1);
    /// # }
    /// ```
    pub async fn with_deadline<F: Future>(&self, future: F) -> Option<F::Output> {
        wait_future(future, self.deadline).await
    }
}
