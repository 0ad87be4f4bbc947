//! The `ShutdownHook` trait: a component's ordered async cleanup step.
//!
//! What a hook gets when it runs is in `context.rs`; hooks made from
//! closures are in `fn_hook.rs`; running them is the runner's job.

mod context;
mod fn_hook;

pub use context::HookContext;
pub use fn_hook::{FnHook, hook_fn};

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::time::Duration;

use crate::runner::panic_message;
use crate::{BoxError, Phase};

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
/// hooks still run.
///
/// # Deadlines and cancellation
///
/// A hook's deadline ([`HookContext::deadline`]) is its timeout (or the
/// default hook timeout), capped by the global deadline. At the deadline its
/// cancellation token fires ([`HookContext::cancelled`]), and the hook is
/// still polled for [`HOOK_CANCEL_GRACE`](crate::defaults::HOOK_CANCEL_GRACE)
/// so that it can react — stop, log what is left, return an error. Its
/// outcome is then [`HookOutcome::Timeout`](crate::HookOutcome::Timeout) with
/// what it returned as the message; a hook that ignores the cancellation is
/// dropped at the end of the grace. Near the global deadline the token fires
/// that much earlier, so the grace never runs past it. A hook whose own wait
/// ends exactly at its deadline (a [`HookContext::wait`] returning `false`)
/// is polled before the token fires, so it returns its own result.
///
/// Each hook runs as its own task. On a multi-thread runtime the deadline is
/// kept whatever the hook's thread does: a hook that blocks its thread
/// (`std::thread::sleep`, a slow panic backtrace) is abandoned at the end of
/// its grace and the remaining hooks run on. On a `current_thread` runtime
/// nothing can interrupt a hook that blocks the only thread; such a hook is
/// reported as `timeout` once it returns past its grace, never as `ok`.
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

/// A hook about to run: its name, phase and timeout, read once, and the
/// hook.
pub(crate) struct Registered {
    pub(crate) name: String,
    pub(crate) phase: Phase,
    pub(crate) timeout: Option<Duration>,
    /// `Err` with the panic's message when reading the name, phase or
    /// timeout panicked: the hook is recorded as a panic and not run, and
    /// the others still run.
    pub(crate) hook: Result<Stored, String>,
}

impl Registered {
    /// Reads what the runner needs of the hook `position` (1-based, in
    /// registration order), outside the hook's own task, so a panic there
    /// is caught here.
    pub(crate) fn new(hook: Stored, position: usize) -> Self {
        let read = || (hook.name().to_owned(), hook.phase(), hook.timeout());
        match catch_unwind(AssertUnwindSafe(read)) {
            Ok((name, phase, timeout)) => Registered {
                name,
                phase,
                timeout,
                hook: Ok(hook),
            },
            Err(payload) => {
                let name = catch_unwind(AssertUnwindSafe(|| hook.name().to_owned()))
                    .unwrap_or_else(|_| format!("hook #{position}"));
                Registered {
                    name,
                    phase: Phase::CLOSE,
                    timeout: None,
                    hook: Err(format!(
                        "reading its name, phase or timeout panicked: {}",
                        panic_message(payload)
                    )),
                }
            }
        }
    }
}

impl fmt::Debug for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registered")
            .field("name", &self.name)
            .field("phase", &self.phase)
            .field("timeout", &self.timeout)
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
