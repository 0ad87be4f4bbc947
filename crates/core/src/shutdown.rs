//! The `Shutdown` handle and the state machine it owns.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::before_done::{BeforeDone, run_before_done};
use crate::hook::{Registered, Stored};
use crate::inflight::InFlight;
use crate::lifecycle::Lifecycle;
use crate::runner::{RunPlan, run_hooks};
use crate::wait::{wait_condition, wait_future};
use crate::{
    BoxError, FnHook, HookContext, InFlightGuard, Phase, Reason, RegisterError, ShutdownHook,
    ShutdownReport, Signal, State, hook_fn,
};

/// The announce delay used under Kubernetes when none is configured.
pub const KUBERNETES_ANNOUNCE_DELAY: Duration = Duration::from_secs(5);

/// Settings of a [`Shutdown`]; built with [`Shutdown::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_core::{Phase, Shutdown, Signal};
///
/// let shutdown = Shutdown::builder()
///     .timeout(Duration::from_secs(25))
///     .announce_delay(Duration::from_secs(3))
///     .drain_timeout(Duration::from_secs(10))
///     .hook_timeout(Duration::from_secs(2))
///     .signals([Signal::Terminate])
///     .concurrent_phase(Phase::FLUSH)
///     .failure_exit_code(70)
///     .build();
/// assert_eq!(shutdown.settings().drain_timeout, Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
#[must_use = "call .build() to get a Shutdown"]
pub struct ShutdownBuilder {
    settings: Settings,
}

/// The timing and behaviour of a [`Shutdown`], readable with
/// [`Shutdown::settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// The global deadline T, from the trigger to done.
    pub timeout: Duration,
    /// How long to announce (readiness failing, traffic still served).
    pub announce_delay: Duration,
    /// How long draining may wait for in-flight work.
    pub drain_timeout: Duration,
    /// A hook's timeout when it does not set its own.
    pub hook_timeout: Duration,
    /// The signals that trigger shutdown.
    pub signals: Vec<Signal>,
    /// Whether a second signal while shutting down exits at once.
    pub second_signal_exits: bool,
    /// The exit code when the shutdown was not clean.
    pub failure_exit_code: i32,
    /// Phases whose hooks run concurrently.
    pub concurrent_phases: BTreeSet<Phase>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout: Duration::from_secs(30),
            announce_delay: if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
                KUBERNETES_ANNOUNCE_DELAY
            } else {
                Duration::ZERO
            },
            drain_timeout: Duration::from_secs(15),
            hook_timeout: Duration::from_secs(5),
            signals: vec![Signal::Terminate, Signal::Interrupt],
            second_signal_exits: true,
            failure_exit_code: 1,
            concurrent_phases: BTreeSet::new(),
        }
    }
}

impl ShutdownBuilder {
    /// The global deadline T for the whole sequence (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The announce delay D (default 0, or 5 s when `KUBERNETES_SERVICE_HOST`
    /// is set).
    pub fn announce_delay(mut self, delay: Duration) -> Self {
        self.settings.announce_delay = delay;
        self
    }

    /// The drain timeout X (default 15 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.settings.drain_timeout = timeout;
        self
    }

    /// The default per-hook timeout (default 5 s).
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.settings.hook_timeout = timeout;
        self
    }

    /// The signals that trigger shutdown (default SIGTERM and SIGINT).
    pub fn signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.settings.signals = signals.into_iter().collect();
        self
    }

    /// Listen to no signal: only [`Shutdown::trigger`] starts shutdown.
    pub fn no_signals(self) -> Self {
        self.signals([])
    }

    /// Whether a second signal while shutting down exits at once with
    /// 128 + the signal number (default `true`).
    pub fn second_signal_exits(mut self, exits: bool) -> Self {
        self.settings.second_signal_exits = exits;
        self
    }

    /// The exit code [`ShutdownReport::exit_code`] gives when anything failed
    /// (default 1).
    pub fn failure_exit_code(mut self, code: i32) -> Self {
        self.settings.failure_exit_code = code;
        self
    }

    /// Run the hooks of `phase` concurrently instead of one by one.
    pub fn concurrent_phase(mut self, phase: Phase) -> Self {
        self.settings.concurrent_phases.insert(phase);
        self
    }

    /// Builds the handle.
    pub fn build(self) -> Shutdown {
        let (state_tx, _) = watch::channel(State::Running);
        Shutdown {
            inner: Arc::new(Inner {
                lifecycle: Lifecycle::new(),
                state_tx,
                settings: self.settings,
                hooks: Mutex::new(Vec::new()),
                trigger: OnceLock::new(),
                in_flight: InFlight::default(),
                tracker: TaskTracker::new(),
                drain_ended: CancellationToken::new(),
                drain_ended_flag: AtomicBool::new(false),
                driving: AtomicBool::new(false),
                signals_installed: AtomicBool::new(false),
                report: OnceLock::new(),
                before_done: Mutex::new(Vec::new()),
            }),
        }
    }
}

pub(crate) struct Inner {
    lifecycle: Lifecycle,
    state_tx: watch::Sender<State>,
    settings: Settings,
    hooks: Mutex<Vec<Stored>>,
    trigger: OnceLock<(Instant, Reason)>,
    pub(crate) in_flight: InFlight,
    tracker: TaskTracker,
    drain_ended: CancellationToken,
    /// Set just before `drain_ended` is cancelled: a lock-free
    /// `is_drain_ended` for the per-request path of the HTTP layer.
    drain_ended_flag: AtomicBool,
    driving: AtomicBool,
    signals_installed: AtomicBool,
    report: OnceLock<ShutdownReport>,
    before_done: Mutex<Vec<BeforeDone>>,
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
    inner: Arc<Inner>,
}

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
            .field("tracked_tasks", &self.inner.tracker.len())
            .field("hooks", &self.lock_hooks().len())
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
        ShutdownBuilder {
            settings: Settings::default(),
        }
    }

    /// The settings this handle was built with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    #[inline]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    fn lock_hooks(&self) -> MutexGuard<'_, Vec<Stored>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.inner.hooks.lock().unwrap_or_else(|e| e.into_inner())
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
        let _hooks = self.lock_hooks();
        if self.inner.lifecycle.is_triggered() {
            return false;
        }
        // Under the lock nobody else can trigger: record why, then publish.
        let _ = self.inner.trigger.set((Instant::now(), reason));
        let won = self.inner.lifecycle.try_trigger();
        debug_assert!(won);
        self.publish(State::Announcing);
        won
    }

    fn advance(&self, state: State) {
        if self.inner.lifecycle.advance(state) {
            self.publish(state);
        }
    }

    fn publish(&self, state: State) {
        self.inner.state_tx.send_replace(state);
        #[cfg(feature = "metrics")]
        crate::metrics::record_state(state);
    }

    /// Installs the configured signal handlers (SIGTERM and SIGINT by
    /// default): the first signal triggers shutdown, a second one exits the
    /// process at once with 128 + its number, unless
    /// [turned off](ShutdownBuilder::second_signal_exits).
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
        self.inner.lifecycle.is_triggered()
    }

    /// The current state.
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// assert_eq!(Shutdown::builder().no_signals().build().state(), State::Running);
    /// ```
    #[inline]
    pub fn state(&self) -> State {
        self.inner.lifecycle.load()
    }

    /// Why shutdown started, once it has.
    pub fn reason(&self) -> Option<Reason> {
        self.inner.trigger.get().map(|(_, r)| r.clone())
    }

    /// When shutdown was triggered, once it has been.
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
            .map(|at| at + self.inner.settings.timeout)
    }

    /// The report of the finished sequence, once it is done.
    pub fn report(&self) -> Option<ShutdownReport> {
        self.inner.report.get().cloned()
    }

    // ----- waits -----

    /// A future that resolves once the sequence has reached `state` (or a
    /// later one). `'static`, `Send`, and cancel safe.
    ///
    /// ```
    /// use winddown_core::{Shutdown, State};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let cleanup = shutdown.reached(State::Cleanup);
    /// shutdown.trigger();
    /// tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// cleanup.await;
    /// assert!(shutdown.state() >= State::Cleanup);
    /// # }
    /// ```
    pub fn reached(&self, state: State) -> StateReached {
        let mut rx = self.inner.state_tx.subscribe();
        StateReached {
            state,
            inner: Box::pin(async move {
                // The sender lives as long as any handle; an error cannot happen
                // while `rx` is alive because `Inner` owns the sender.
                let _ = rx.wait_for(|s| *s >= state).await;
            }),
        }
    }

    /// Resolves when shutdown is triggered (announcing starts).
    pub fn triggered(&self) -> StateReached {
        self.reached(State::Announcing)
    }

    /// Resolves when draining starts: pass it to a server's graceful-shutdown
    /// method (`axum::serve(..).with_graceful_shutdown(shutdown.draining())`).
    pub fn draining(&self) -> StateReached {
        self.reached(State::Draining)
    }

    /// Resolves when the hooks start running.
    pub fn cleanup_started(&self) -> StateReached {
        self.reached(State::Cleanup)
    }

    /// Resolves when the sequence is done.
    pub fn done(&self) -> StateReached {
        self.reached(State::Done)
    }

    /// Resolves when draining has ended, by completion or by the drain
    /// timeout: work still running then is abandoned and should be cut.
    pub fn drain_ended(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.inner.drain_ended.clone().cancelled_owned()
    }

    /// Whether draining has ended (see [`drain_ended`](Self::drain_ended)).
    /// One atomic load.
    #[inline]
    pub fn is_drain_ended(&self) -> bool {
        self.inner.drain_ended_flag.load(Ordering::Acquire)
    }

    fn wait_deadline(&self) -> Instant {
        self.deadline()
            .unwrap_or_else(|| Instant::now() + self.inner.settings.timeout)
    }

    /// Polls `condition` every `poll_interval` until it is true (`true`) or
    /// shutdown's global deadline passes (`false`). Before the trigger, the
    /// deadline is now + the configured timeout. Cancel safe.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let queue = AtomicUsize::new(3);
    /// let emptied = shutdown
    ///     .wait(|| queue.fetch_sub(1, Ordering::SeqCst) == 1, Duration::from_millis(100))
    ///     .await;
    /// assert!(emptied);
    /// # }
    /// ```
    pub async fn wait<C: FnMut() -> bool>(&self, condition: C, poll_interval: Duration) -> bool {
        wait_condition(condition, poll_interval, self.wait_deadline()).await
    }

    /// Runs `future` until it completes (`Some(output)`) or the global
    /// deadline passes (`None`): the event-driven form of
    /// [`wait`](Self::wait). Cancel safe if `future` is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let (tx, rx) = tokio::sync::oneshot::channel();
    /// tx.send(5).unwrap();
    /// assert_eq!(shutdown.wait_for(rx).await, Some(Ok(5)));
    /// # }
    /// ```
    pub async fn wait_for<F: Future>(&self, future: F) -> Option<F::Output> {
        wait_future(future, self.wait_deadline()).await
    }

    // ----- in-flight work -----

    /// Takes an in-flight guard: draining waits until it is dropped.
    pub fn in_flight(&self) -> InFlightGuard {
        InFlightGuard::new(self.clone())
    }

    /// How many in-flight guards are alive.
    pub fn in_flight_count(&self) -> usize {
        self.inner.in_flight.count()
    }

    /// Spawns a tracked task: draining waits for it to finish.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.spawn(async { tokio::time::sleep(Duration::from_secs(2)).await });
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert!(report.drained);
    /// assert_eq!(report.drain, Duration::from_secs(2));
    /// # }
    /// ```
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.tracker.spawn(task)
    }

    /// How many tracked tasks are still running.
    pub fn tracked_tasks(&self) -> usize {
        self.inner.tracker.len()
    }

    // ----- hooks -----

    /// Registers a hook. Fails once shutdown has been triggered.
    pub fn register<H: ShutdownHook>(&self, hook: H) -> Result<(), RegisterError> {
        let mut hooks = self.lock_hooks();
        let state = self.state();
        if state != State::Running {
            return Err(RegisterError::ShuttingDown {
                hook: hook.name().to_owned(),
                state,
            });
        }
        hooks.push(Box::new(hook));
        Ok(())
    }

    /// Registers a closure as a hook in [`Phase::CLOSE`] (the seed's
    /// `register(cb)` / `@on_cleanup`). For another phase or a timeout use
    /// [`register`](Self::register) with [`hook_fn`].
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("close-files", |_ctx| async { Ok(()) }).unwrap();
    /// ```
    pub fn on_cleanup<F, Fut>(&self, name: impl Into<String>, f: F) -> Result<(), RegisterError>
    where
        F: FnOnce(HookContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let hook: FnHook<F> = hook_fn(name, f);
        self.register(hook)
    }

    /// How many hooks are registered and not yet run.
    pub fn hook_count(&self) -> usize {
        self.lock_hooks().len()
    }

    fn lock_before_done(&self) -> MutexGuard<'_, Vec<BeforeDone>> {
        self.inner
            .before_done
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a step that runs once the sequence is over but before the
    /// state becomes [`State::Done`]: after every hook has run, the
    /// [`ShutdownReport`] is final ([`report`](Self::report) returns it) and
    /// the sequence metrics are recorded, while a server that keeps its
    /// listener open until done still answers.
    ///
    /// This is where telemetry of the shutdown itself gets out: serve one
    /// last scrape, push to a gateway, write a file. Steps run one after
    /// another in registration order, each with a copy of the report. They
    /// are not bounded by the global deadline (the report is already final),
    /// so a step must bound its own time; count that time in the grace period
    /// the platform gives the process. Fails once shutdown has been triggered.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use winddown_core::{Shutdown, State};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    /// let seen = Arc::new(Mutex::new(None));
    /// shutdown
    ///     .before_done("export", {
    ///         let (shutdown, seen) = (shutdown.clone(), seen.clone());
    ///         move |report| async move {
    ///             *seen.lock().unwrap() = Some((shutdown.state(), report.hooks.len()));
    ///         }
    ///     })
    ///     .unwrap();
    /// shutdown.trigger();
    /// shutdown.run().await;
    /// assert_eq!(*seen.lock().unwrap(), Some((State::Cleanup, 1)));
    /// assert_eq!(shutdown.state(), State::Done);
    /// # }
    /// ```
    pub fn before_done<F, Fut>(&self, name: impl Into<String>, f: F) -> Result<(), RegisterError>
    where
        F: FnOnce(ShutdownReport) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // The hooks lock orders this against the trigger, like `register`.
        let _hooks = self.lock_hooks();
        let name = name.into();
        let state = self.state();
        if state != State::Running {
            return Err(RegisterError::ShuttingDown { hook: name, state });
        }
        self.lock_before_done().push(BeforeDone::new(name, f));
        Ok(())
    }

    // ----- the sequence -----

    /// Waits for the trigger, then drives the sequence to done and returns the
    /// report: announce for the announce delay, drain until in-flight work and
    /// tracked tasks finish or the drain timeout passes, run the hooks, run
    /// the [`before_done`](Self::before_done) steps, done. The sequence up to
    /// the report is bounded by the global deadline.
    ///
    /// Installs the configured signal handlers first. If called again, or
    /// concurrently, the later calls wait for the first one and return the
    /// same report.
    ///
    /// Cancel safety: dropping the future of the call that drives the
    /// sequence stops it where it is; do not.
    pub async fn run(&self) -> ShutdownReport {
        if let Err(error) = self.listen_for_signals() {
            warn!(target: "winddown", %error, "could not install signal handlers");
        }
        if self.inner.driving.swap(true, Ordering::AcqRel) {
            self.done().await;
            return self.report().expect("report is set before done");
        }
        self.triggered().await;
        let report = self.drive().await;
        let _ = self.inner.report.set(report.clone());
        let steps = std::mem::take(&mut *self.lock_before_done());
        run_before_done(steps, &report).await;
        self.advance(State::Done);
        report
    }

    async fn drive(&self) -> ShutdownReport {
        let inner = &self.inner;
        let settings = &inner.settings;
        let (t0, reason) = inner.trigger.get().cloned().expect("triggered");
        let deadline = t0 + settings.timeout;
        info!(
            target: "winddown",
            reason = %reason,
            announce_delay = ?settings.announce_delay,
            drain_timeout = ?settings.drain_timeout,
            timeout = ?settings.timeout,
            "shutdown started ({reason}): announcing"
        );

        // A timer rounds up to the next millisecond tick: with no announce
        // delay left, skip it rather than wait for that tick.
        let announce_until = (t0 + settings.announce_delay).min(deadline);
        if announce_until > Instant::now() {
            sleep_until(announce_until).await;
        }
        let drain_start = Instant::now();
        let announce = drain_start - t0;
        self.advance(State::Draining);
        inner.tracker.close();
        info!(
            target: "winddown",
            in_flight = inner.in_flight.count(),
            tracked_tasks = inner.tracker.len(),
            "draining in-flight work"
        );
        let drain_deadline = (drain_start + settings.drain_timeout).min(deadline);
        let drained = timeout_at(drain_deadline, async {
            inner.in_flight.wait_idle().await;
            inner.tracker.wait().await;
        })
        .await
        .is_ok();
        let abandoned = if drained {
            0
        } else {
            inner.in_flight.count() + inner.tracker.len()
        };
        inner.drain_ended_flag.store(true, Ordering::Release);
        inner.drain_ended.cancel();
        let cleanup_start = Instant::now();
        let drain = cleanup_start - drain_start;
        if drained {
            info!(target: "winddown", drain_seconds = drain.as_secs_f64(), "drained ({:.3}s)", drain.as_secs_f64());
        } else {
            warn!(
                target: "winddown",
                abandoned,
                drain_seconds = drain.as_secs_f64(),
                "drain timeout: {abandoned} in-flight units abandoned"
            );
        }

        self.advance(State::Cleanup);
        let hooks = std::mem::take(&mut *self.lock_hooks())
            .into_iter()
            .map(Registered::new)
            .collect();
        let hooks = run_hooks(RunPlan {
            hooks,
            default_timeout: settings.hook_timeout,
            deadline,
            concurrent: settings.concurrent_phases.clone(),
            reason: reason.clone(),
        })
        .await;
        let end = Instant::now();
        let deadline_exceeded = end >= deadline
            || hooks
                .iter()
                .any(|h| matches!(h.outcome, crate::HookOutcome::Skipped));
        let report = ShutdownReport {
            reason,
            announce,
            drain,
            cleanup: end - cleanup_start,
            total: end - t0,
            drained,
            abandoned,
            deadline_exceeded,
            hooks,
            failure_exit_code: settings.failure_exit_code,
        };
        #[cfg(feature = "metrics")]
        crate::metrics::record_sequence(&report);
        let failed = report.failed_hooks().count();
        if report.is_clean() {
            info!(
                target: "winddown",
                total_seconds = report.total.as_secs_f64(),
                hooks = report.hooks.len(),
                abandoned,
                exit_code = report.exit_code(),
                "shutdown complete in {:.3}s: {} hooks ok",
                report.total.as_secs_f64(),
                report.hooks.len()
            );
        } else {
            warn!(
                target: "winddown",
                total_seconds = report.total.as_secs_f64(),
                hooks = report.hooks.len(),
                failed,
                abandoned,
                deadline_exceeded,
                exit_code = report.exit_code(),
                "shutdown finished with failures in {:.3}s: {failed} of {} hooks failed{}",
                report.total.as_secs_f64(),
                report.hooks.len(),
                if deadline_exceeded { ", global deadline exceeded" } else { "" }
            );
        }
        report
    }

    /// Runs a service until shutdown, then drains and cleans up: the scope
    /// form (the seed's `with shutdown:` block).
    ///
    /// `service` is spawned; it should stop accepting work when draining
    /// starts (see [`draining`](Self::draining)) and return. If it returns
    /// before any trigger, that triggers shutdown ([`Reason::ServiceExited`],
    /// or [`Reason::Fatal`] with its error). After the sequence is done the
    /// service gets up to one second (bounded by the global deadline) to
    /// return, then it is dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{Reason, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    /// let service = {
    ///     let shutdown = shutdown.clone();
    ///     async move {
    ///         tokio::time::sleep(Duration::from_secs(1)).await;
    ///         Err::<(), _>(std::io::Error::other("listener failed"))
    ///     }
    /// };
    /// let report = shutdown.run_until(service).await;
    /// assert_eq!(report.reason, Reason::Fatal("listener failed".into()));
    /// assert_eq!(report.exit_code(), 1);
    /// # }
    /// ```
    pub async fn run_until<F, E>(&self, service: F) -> ShutdownReport
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        // Handlers first: a signal that arrives once the service is up must
        // trigger shutdown, not kill the process with the default action.
        if let Err(error) = self.listen_for_signals() {
            warn!(target: "winddown", %error, "could not install signal handlers");
        }
        let mut service = tokio::spawn(service);
        let sequence = self.run();
        tokio::pin!(sequence);
        let mut service_done = false;
        let report = loop {
            tokio::select! {
                report = &mut sequence => break report,
                joined = &mut service, if !service_done => {
                    service_done = true;
                    let reason = match joined {
                        Ok(Ok(())) => Reason::ServiceExited,
                        Ok(Err(error)) => Reason::Fatal(error.to_string()),
                        Err(join) => Reason::Fatal(format!("service task failed: {join}")),
                    };
                    if !self.is_shutting_down() {
                        warn!(target: "winddown", %reason, "service stopped on its own: shutting down");
                    }
                    self.trigger_with(reason);
                }
            }
        };
        if !service_done {
            let grace = (Instant::now() + Duration::from_secs(1)).min(self.wait_deadline());
            if timeout_at(grace, &mut service).await.is_err() {
                service.abort();
            }
        }
        report
    }
}

/// A future that resolves when the shutdown sequence reaches a state; see
/// [`Shutdown::reached`]. `'static`, `Send` and cancel safe.
#[must_use = "futures do nothing unless polled"]
pub struct StateReached {
    state: State,
    inner: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
}

impl Future for StateReached {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for StateReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateReached")
            .field("state", &self.state)
            .finish()
    }
}
