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
    ///
    /// ```
    /// use winddown_core::{Phase, Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown
    ///     .register(hook_fn("consumer", |ctx| async move {
    ///         assert_eq!(ctx.phase(), Phase::STOP_INTAKE);
    ///         Ok(())
    ///     }).phase(Phase::STOP_INTAKE))
    ///     .unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 0);
    /// # }
    /// ```
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The instant by which the hook must be done: its own timeout, capped by
    /// the global shutdown deadline less the
    /// [cancel grace](crate::defaults::HOOK_CANCEL_GRACE), so that the grace
    /// never runs past the global deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::defaults::HOOK_CANCEL_GRACE;
    /// use winddown_core::{Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().timeout(Duration::from_secs(2)).build();
    /// let global = shutdown.clone();
    /// shutdown
    ///     .register(hook_fn("flush", move |ctx| async move {
    ///         // Its own timeout is 10 s, but the whole shutdown has only 2 s.
    ///         assert_eq!(Some(ctx.deadline() + HOOK_CANCEL_GRACE), global.deadline());
    ///         Ok(())
    ///     }).timeout(Duration::from_secs(10)))
    ///     .unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 0);
    /// # }
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Time left until [`deadline`](Self::deadline) (zero once it has passed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown
    ///     .register(hook_fn("upload", |ctx| async move {
    ///         let before = ctx.remaining();
    ///         assert!(before <= Duration::from_secs(3));
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         assert!(ctx.remaining() <= before - Duration::from_secs(1));
    ///         Ok(())
    ///     }).timeout(Duration::from_secs(3)))
    ///     .unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 0);
    /// # }
    /// ```
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// A token that is cancelled when the deadline is reached: hand a child
    /// of it to work the hook starts, so that work stops at the deadline too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{HookOutcome, Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown
    ///     .register(hook_fn("upload", |ctx| async move {
    ///         let stop = ctx.token().child_token();
    ///         let upload = tokio::spawn(async move {
    ///             tokio::select! {
    ///                 _ = tokio::time::sleep(Duration::from_secs(60)) => "uploaded",
    ///                 _ = stop.cancelled() => "stopped",
    ///             }
    ///         });
    ///         Err(upload.await?.into())
    ///     }).timeout(Duration::from_secs(1)))
    ///     .unwrap();
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert_eq!(report.hooks[0].outcome, HookOutcome::Timeout(Some("stopped".into())));
    /// # }
    /// ```
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
    ///
    /// ```
    /// use winddown_core::{Reason, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown
    ///     .on_cleanup("alert", |ctx| async move {
    ///         assert_eq!(ctx.reason(), &Reason::Fatal("disk full".into()));
    ///         Ok(())
    ///     })
    ///     .unwrap();
    /// shutdown.trigger_with(Reason::Fatal("disk full".into()));
    /// let report = shutdown.run().await;
    /// assert!(report.failed_hooks().next().is_none());
    /// assert_eq!(report.exit_code(), 1); // a fatal reason is a failure in itself
    /// # }
    /// ```
    pub fn reason(&self) -> &Reason {
        &self.reason
    }

    /// This hook's position (1-based) in the whole run.
    ///
    /// ```
    /// use winddown_core::{Phase, Shutdown, hook_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// // Registered second, but its phase runs first.
    /// shutdown.on_cleanup("db", |ctx| async move {
    ///     assert_eq!(ctx.index(), 2);
    ///     Ok(())
    /// }).unwrap();
    /// shutdown
    ///     .register(hook_fn("consumer", |ctx| async move {
    ///         assert_eq!(ctx.index(), 1);
    ///         Ok(())
    ///     }).phase(Phase::STOP_INTAKE))
    ///     .unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 0);
    /// # }
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many hooks run in total.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// for name in ["cache", "db", "logs"] {
    ///     shutdown.on_cleanup(name, |ctx| async move {
    ///         println!("[{}/{}] {}", ctx.index(), ctx.total(), ctx.name());
    ///         assert_eq!(ctx.total(), 3);
    ///         Ok(())
    ///     }).unwrap();
    /// }
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.hooks.len(), 3);
    /// # }
    /// ```
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
