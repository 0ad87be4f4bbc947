//! The `Shutdown` handle: the one value every part of a service shares.
//!
//! The handle triggers, answers queries, hands out waits and in-flight
//! guards, and registers hooks. The sequence it owns is driven by
//! `sequence/`; its settings come from `settings.rs`. The handle's methods
//! are grouped by what they are for: waits (`waits.rs`), in-flight work
//! (`work.rs`) and hook registration (`registry.rs`).

mod registry;
mod waits;
mod work;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::before_done::BeforeDone;
use crate::gate::{GateOwner, Signals};
use crate::hook::Stored;
use crate::{
    DrainEnded, InFlightGuard, Reason, Settings, ShutdownBuilder, ShutdownReport, State,
    StateReached,
};

/// The state every clone of a [`Shutdown`] shares.
pub(crate) struct Inner {
    /// The state, the counter of guards and the drain's end, shared with
    /// the admitted requests.
    pub(crate) signals: Arc<Signals>,
    pub(crate) gate: GateOwner,
    pub(crate) state_tx: watch::Sender<State>,
    pub(crate) settings: Settings,
    pub(crate) hooks: Mutex<Vec<Stored>>,
    pub(crate) trigger: OnceLock<(Instant, Reason)>,
    pub(crate) tracker: TaskTracker,
    /// The tracked tasks, to abort those still running when the drain
    /// times out (finished ones are pruned as tasks are spawned).
    pub(crate) tracked: Mutex<Vec<AbortHandle>>,
    pub(crate) driving: AtomicBool,
    pub(crate) signals_installed: AtomicBool,
    /// Whether a shutdown signal has been received: only a second one
    /// forces the exit, even when the shutdown was started from code.
    pub(crate) signal_received: AtomicBool,
    pub(crate) report: Mutex<Option<ShutdownReport>>,
    /// The service's failure after the trigger (see `run_until`).
    pub(crate) service_error: Mutex<Option<String>>,
    pub(crate) before_done: Mutex<Vec<BeforeDone>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a single push, take or set).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `at + after`, or "never" (far in the future) when that overflows.
pub(crate) fn deadline_after(at: Instant, after: Duration) -> Instant {
    at.checked_add(after)
        .unwrap_or_else(|| at + Duration::from_secs(86_400 * 365 * 30))
}

/// The handle that owns the shutdown state machine.
///
/// Cheap to clone (`Arc` inside), `Send + Sync`. Every clone sees the same
/// state. The sequence is
/// `Running → Announcing → Draining → Cleanup → Done`:
/// [`trigger`](Self::trigger) (or a signal) enters announcing, and
/// [`run`](Self::run) (or [`run_until`](Self::run_until)) drives the rest.
///
/// # Examples
///
/// A whole service in three lines:
///
/// ```no_run
/// use winddown_core::Shutdown;
///
/// # async fn serve(_: Shutdown) -> Result<(), std::io::Error> { Ok(()) }
/// #[tokio::main]
/// async fn main() {
///     let shutdown = Shutdown::new();
///     let report = shutdown.run_until(serve(shutdown.clone())).await;
///     std::process::exit(report.exit_code());
/// }
/// ```
///
/// Driving it by hand:
///
/// ```
/// use winddown_core::{Shutdown, State};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// assert!(!shutdown.is_shutting_down());
/// shutdown.trigger();
/// assert!(shutdown.is_shutting_down());
/// let report = shutdown.run().await;
/// assert_eq!(shutdown.state(), State::Done);
/// assert_eq!(report.exit_code(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct Shutdown {
    pub(crate) inner: Arc<Inner>,
}

// The handle is shared across tasks and threads; say so at compile time.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Shutdown>();
    send_sync::<crate::ShutdownReport>();
    send_sync::<crate::HookContext>();
    send_sync::<InFlightGuard>();
    send_sync::<crate::RequestGate>();
    send_sync::<crate::Admission>();
    send_sync::<crate::Settings>();
    const fn send<T: Send>() {}
    send::<StateReached>();
    send::<DrainEnded>();
};

impl AsRef<Shutdown> for Shutdown {
    #[inline]
    fn as_ref(&self) -> &Shutdown {
        self
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shutdown")
            .field("state", &self.state())
            .field("reason", &self.reason())
            .field("in_flight", &self.in_flight_count())
            .field("tracked_tasks", &self.tracked_task_count())
            .field("hooks", &self.hook_count())
            .finish()
    }
}

impl Shutdown {
    /// A handle with default settings (see [`ShutdownBuilder`]).
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::new();
    /// assert_eq!(shutdown.settings().timeout.as_secs(), 30);
    /// ```
    pub fn new() -> Shutdown {
        Shutdown::builder().build()
    }

    /// A builder for custom settings.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(shutdown.settings().signals.is_empty());
    /// ```
    pub fn builder() -> ShutdownBuilder {
        ShutdownBuilder::new()
    }

    pub(crate) fn from_settings(settings: Settings) -> Shutdown {
        let (state_tx, _) = watch::channel(State::Running);
        let signals = Arc::new(Signals::new());
        Shutdown {
            inner: Arc::new(Inner {
                gate: GateOwner::new(signals.clone()),
                signals,
                state_tx,
                settings,
                hooks: Mutex::new(Vec::new()),
                trigger: OnceLock::new(),
                tracker: TaskTracker::new(),
                tracked: Mutex::new(Vec::new()),
                driving: AtomicBool::new(false),
                signals_installed: AtomicBool::new(false),
                signal_received: AtomicBool::new(false),
                report: Mutex::new(None),
                service_error: Mutex::new(None),
                before_done: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings this handle was built with.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::new();
    /// assert_eq!(shutdown.settings().hook_timeout.as_secs(), 5);
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    #[inline]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    // ----- triggers -----

    /// Starts shutdown (reason: manual). Idempotent and callable from any
    /// thread or task; returns `true` only for the call that started it.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(shutdown.trigger());
    /// assert!(!shutdown.trigger());
    /// ```
    pub fn trigger(&self) -> bool {
        self.trigger_with(Reason::Manual)
    }

    /// Starts shutdown with the given reason. Only the first trigger's reason
    /// is kept; returns `true` only for the call that started it.
    ///
    /// ```
    /// use winddown_core::{Reason, Shutdown};
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown.trigger_with(Reason::Fatal("disk full".into()));
    /// shutdown.trigger();
    /// assert_eq!(shutdown.reason(), Some(Reason::Fatal("disk full".into())));
    /// ```
    pub fn trigger_with(&self, reason: Reason) -> bool {
        // Hold the hooks lock so that registration and trigger are ordered.
        let _hooks = lock(&self.inner.hooks);
        if self.inner.signals.cell.is_triggered() {
            return false;
        }
        // Under the lock nobody else can trigger: record why, then publish.
        let _ = self.inner.trigger.set((Instant::now(), reason));
        let won = self.inner.signals.cell.try_trigger();
        debug_assert!(won);
        self.publish(State::Announcing);
        won
    }

    pub(crate) fn advance(&self, state: State) {
        if self.inner.signals.cell.advance(state) {
            if state >= State::Draining {
                // From now on `try_in_flight_guard` and the request gate
                // refuse.
                self.inner.signals.in_flight.close();
                self.inner.gate.release();
            }
            self.publish(state);
        }
    }

    fn publish(&self, state: State) {
        self.inner.state_tx.send_replace(state);
        #[cfg(feature = "metrics")]
        {
            crate::metric_names::record_state(state);
            crate::metric_names::record_in_flight_requests(self.inner.gate.admitted());
        }
    }

    /// Installs the configured signal handlers (SIGTERM and SIGINT by
    /// default): the first signal triggers shutdown, a second one exits the
    /// process at once with 128 + its number, unless
    /// [turned off](ShutdownBuilder::second_signal_exits). A shutdown started
    /// from code ([`trigger`](Self::trigger), a hand-off, a failed service)
    /// is not cut by the first signal that follows: that signal is logged and
    /// the shutdown goes on; only a second one exits.
    ///
    /// [`run`](Self::run) and [`run_until`](Self::run_until) call this
    /// themselves; calling it more than once does nothing more. Call it
    /// earlier — before binding a port or logging "listening" — when a signal
    /// that comes before `run_until` must be handled too (until then a
    /// signal keeps its default action and ends the process at once). Must
    /// be called inside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let shutdown = winddown_core::Shutdown::new();
    /// shutdown.listen_for_signals()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn listen_for_signals(&self) -> io::Result<()> {
        let settings = &self.inner.settings;
        if settings.signals.is_empty() || self.inner.signals_installed.swap(true, Ordering::AcqRel)
        {
            return Ok(());
        }
        crate::signal::listen(self, &settings.signals, settings.second_signal_exits).inspect_err(
            |_| {
                self.inner.signals_installed.store(false, Ordering::Release);
            },
        )
    }

    // ----- queries -----

    /// Whether shutdown has been triggered: a single atomic load.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(!shutdown.is_shutting_down());
    /// ```
    #[inline]
    pub fn is_shutting_down(&self) -> bool {
        self.inner.signals.cell.is_triggered()
    }

    /// The current state.
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// assert_eq!(Shutdown::builder().no_signals().build().state(), State::Running);
    /// ```
    #[inline]
    pub fn state(&self) -> State {
        self.inner.signals.cell.load()
    }

    /// Why shutdown started, once it has.
    ///
    /// ```
    /// use winddown_core::{Reason, Shutdown};
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// assert_eq!(shutdown.reason(), None);
    /// shutdown.trigger();
    /// assert_eq!(shutdown.reason(), Some(Reason::Manual));
    /// ```
    pub fn reason(&self) -> Option<Reason> {
        self.inner.trigger.get().map(|(_, r)| r.clone())
    }

    /// When shutdown was triggered, once it has been.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.trigger();
    /// assert!(shutdown.triggered_at().unwrap() <= tokio::time::Instant::now());
    /// # }
    /// ```
    pub fn triggered_at(&self) -> Option<Instant> {
        self.inner.trigger.get().map(|(at, _)| *at)
    }

    /// The global deadline (trigger time + timeout), once triggered.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let shutdown = winddown_core::Shutdown::builder()
    ///     .no_signals()
    ///     .timeout(Duration::from_secs(10))
    ///     .build();
    /// assert!(shutdown.deadline().is_none());
    /// shutdown.trigger();
    /// assert_eq!(shutdown.deadline().unwrap() - shutdown.triggered_at().unwrap(), Duration::from_secs(10));
    /// # }
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.triggered_at()
            .map(|at| deadline_after(at, self.inner.settings.timeout))
    }

    /// The report of the finished sequence, once it is done.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(shutdown.report().is_none());
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert_eq!(shutdown.report(), Some(report));
    /// # }
    /// ```
    pub fn report(&self) -> Option<ShutdownReport> {
        lock(&self.inner.report).clone()
    }
}
