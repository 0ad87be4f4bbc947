//! The settings of a shutdown sequence and the builder that sets them.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::{Phase, Shutdown, Signal, defaults};

/// The timing and behaviour of a [`Shutdown`], readable with
/// [`Shutdown::settings`].
///
/// [`Settings::default`] is pure: the same values wherever it runs (see
/// [`defaults`]). The Kubernetes announce delay is an explicit step:
/// [`ShutdownBuilder::announce_delay_from_env`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_core::{Settings, Signal};
///
/// let settings = Settings::default();
/// assert_eq!(settings.timeout, Duration::from_secs(30));
/// assert_eq!(settings.announce_delay, Duration::ZERO);
/// assert_eq!(settings.signals, [Signal::Terminate, Signal::Interrupt]);
/// ```
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
            timeout: defaults::TIMEOUT,
            announce_delay: defaults::ANNOUNCE_DELAY,
            drain_timeout: defaults::DRAIN_TIMEOUT,
            hook_timeout: defaults::HOOK_TIMEOUT,
            signals: vec![Signal::Terminate, Signal::Interrupt],
            second_signal_exits: true,
            failure_exit_code: defaults::FAILURE_EXIT_CODE,
            concurrent_phases: BTreeSet::new(),
        }
    }
}

/// Builds a [`Shutdown`] with custom [`Settings`]; see [`Shutdown::builder`].
///
/// Every duration is accepted as given; durations too large to add to an
/// instant are treated as "never" rather than overflowing.
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
#[derive(Debug, Clone, Default)]
#[must_use = "call .build() to get a Shutdown"]
pub struct ShutdownBuilder {
    settings: Settings,
}

impl ShutdownBuilder {
    /// A builder with the default settings; the same as
    /// [`Shutdown::builder`].
    ///
    /// ```
    /// let shutdown = winddown_core::ShutdownBuilder::new().no_signals().build();
    /// assert!(shutdown.settings().signals.is_empty());
    /// ```
    pub fn new() -> Self {
        ShutdownBuilder::default()
    }

    /// A builder starting from `settings`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{Settings, ShutdownBuilder};
    ///
    /// let mut settings = Settings::default();
    /// settings.drain_timeout = Duration::from_secs(3);
    /// let shutdown = ShutdownBuilder::from_settings(settings).no_signals().build();
    /// assert_eq!(shutdown.settings().drain_timeout, Duration::from_secs(3));
    /// ```
    pub fn from_settings(settings: Settings) -> Self {
        ShutdownBuilder { settings }
    }

    /// The global deadline T for the whole sequence (default 30 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = winddown_core::Shutdown::builder().timeout(Duration::from_secs(20));
    /// assert_eq!(b.settings().timeout, Duration::from_secs(20));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The announce delay D (default 0; see
    /// [`announce_delay_from_env`](Self::announce_delay_from_env)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = winddown_core::Shutdown::builder().announce_delay(Duration::from_secs(3));
    /// assert_eq!(b.settings().announce_delay, Duration::from_secs(3));
    /// ```
    pub fn announce_delay(mut self, delay: Duration) -> Self {
        self.settings.announce_delay = delay;
        self
    }

    /// Sets the announce delay for the environment the process runs in:
    /// 5 s ([`defaults::KUBERNETES_ANNOUNCE_DELAY`]) when
    /// `KUBERNETES_SERVICE_HOST` is set, 0 otherwise. The explicit step that
    /// reads the environment; nothing else in the builder does.
    ///
    /// ```
    /// use winddown_core::{Shutdown, defaults};
    /// let b = Shutdown::builder().announce_delay_from_env();
    /// assert_eq!(b.settings().announce_delay, defaults::announce_delay_from_env());
    /// ```
    pub fn announce_delay_from_env(self) -> Self {
        self.announce_delay(defaults::announce_delay_from_env())
    }

    /// The drain timeout X (default 15 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = winddown_core::Shutdown::builder().drain_timeout(Duration::from_secs(9));
    /// assert_eq!(b.settings().drain_timeout, Duration::from_secs(9));
    /// ```
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.settings.drain_timeout = timeout;
        self
    }

    /// The default per-hook timeout (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = winddown_core::Shutdown::builder().hook_timeout(Duration::from_secs(1));
    /// assert_eq!(b.settings().hook_timeout, Duration::from_secs(1));
    /// ```
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.settings.hook_timeout = timeout;
        self
    }

    /// The signals that trigger shutdown (default SIGTERM and SIGINT).
    ///
    /// ```
    /// use winddown_core::{Shutdown, Signal};
    /// let b = Shutdown::builder().signals([Signal::Terminate]);
    /// assert_eq!(b.settings().signals, [Signal::Terminate]);
    /// ```
    pub fn signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.settings.signals = signals.into_iter().collect();
        self
    }

    /// Listen to no signal: only [`Shutdown::trigger`] starts shutdown.
    ///
    /// ```
    /// let b = winddown_core::Shutdown::builder().no_signals();
    /// assert!(b.settings().signals.is_empty());
    /// ```
    pub fn no_signals(self) -> Self {
        self.signals([])
    }

    /// Whether a second signal while shutting down exits at once with
    /// 128 + the signal number (default `true`). The first signal received
    /// never exits, even when the shutdown was started from code.
    ///
    /// ```
    /// let b = winddown_core::Shutdown::builder().second_signal_exits(false);
    /// assert!(!b.settings().second_signal_exits);
    /// ```
    pub fn second_signal_exits(mut self, exits: bool) -> Self {
        self.settings.second_signal_exits = exits;
        self
    }

    /// The exit code [`ShutdownReport::exit_code`](crate::ShutdownReport::exit_code)
    /// gives when anything failed (default 1).
    ///
    /// ```
    /// let b = winddown_core::Shutdown::builder().failure_exit_code(70);
    /// assert_eq!(b.settings().failure_exit_code, 70);
    /// ```
    pub fn failure_exit_code(mut self, code: i32) -> Self {
        self.settings.failure_exit_code = code;
        self
    }

    /// Run the hooks of `phase` concurrently instead of one by one.
    ///
    /// ```
    /// use winddown_core::{Phase, Shutdown};
    /// let b = Shutdown::builder().concurrent_phase(Phase::FLUSH);
    /// assert!(b.settings().concurrent_phases.contains(&Phase::FLUSH));
    /// ```
    pub fn concurrent_phase(mut self, phase: Phase) -> Self {
        self.settings.concurrent_phases.insert(phase);
        self
    }

    /// The settings so far.
    ///
    /// ```
    /// let b = winddown_core::Shutdown::builder();
    /// assert_eq!(*b.settings(), winddown_core::Settings::default());
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Builds the handle.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// assert!(!shutdown.is_shutting_down());
    /// ```
    pub fn build(self) -> Shutdown {
        Shutdown::from_settings(self.settings)
    }
}
