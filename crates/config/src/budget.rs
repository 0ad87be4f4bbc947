//! The shutdown budget: do the timings fit in the deadline, and the deadline
//! in the platform's grace period?

use std::fmt;
use std::time::Duration;

use tracing::warn;
use winddown_core::Shutdown;

use crate::de::show;
use crate::{BudgetCheck, Config, ConfigError};

/// The room kept between the end of the shutdown and the platform's
/// `SIGKILL`: process exit, log flushing, clock skew.
pub const BUDGET_MARGIN: Duration = Duration::from_secs(2);

/// The bound of the one push to the Pushgateway in the final export (3 s):
/// the default of `winddown_prometheus::Pushgateway`, which
/// `winddown::final_export` keeps. It runs after the shutdown's deadline,
/// at the same time as the linger, so the budget counts the longer of the
/// two when `metrics.pushgateway` is set (see
/// [`MetricsConfig::final_export_time`](crate::MetricsConfig::final_export_time)).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(winddown_config::PUSHGATEWAY_TIMEOUT, Duration::from_secs(3));
/// ```
pub const PUSHGATEWAY_TIMEOUT: Duration = Duration::from_secs(3);

/// A shutdown budget that does not fit.
///
/// # Examples
///
/// ```
/// use winddown_config::{BudgetProblem, Config};
///
/// let config = Config::load_from(
///     None,
///     [
///         ("APP__SHUTDOWN__TIMEOUT", "30s"),
///         ("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", "30s"),
///     ],
/// )
/// .unwrap();
/// let problems = config.budget_problems(1);
/// assert!(matches!(problems[..], [BudgetProblem::OverGracePeriod { .. }]));
/// assert_eq!(
///     problems[0].to_string(),
///     "shutdown budget: shutdown.timeout 30s + metrics.linger 0s + margin 2s = 32s does not fit in \
///      shutdown.kubernetes_grace_period 30s: SIGKILL would cut the shutdown short; raise the grace \
///      period or lower the timeout"
/// );
///
/// // The push to a Pushgateway (bounded by 3 s) runs along with the linger:
/// // the longer of the two counts.
/// let config = Config::load_from(
///     None,
///     [
///         ("APP__SHUTDOWN__TIMEOUT", "25s"),
///         ("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", "29s"),
///         ("APP__METRICS__PUSHGATEWAY", "http://pushgateway:9091"),
///     ],
/// )
/// .unwrap();
/// assert_eq!(
///     config.budget_problems(1)[0].to_string(),
///     "shutdown budget: shutdown.timeout 25s + max(metrics.linger 0s, Pushgateway push timeout \
///      3s) + margin 2s = 30s does not fit in shutdown.kubernetes_grace_period 29s: SIGKILL would \
///      cut the shutdown short; raise the grace period or lower the timeout"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetProblem {
    /// announce + drain + the hooks' timeouts exceed the global deadline:
    /// the last hooks would be skipped when everything takes its full time.
    OverTimeout {
        /// `shutdown.announce_delay`
        announce_delay: Duration,
        /// `shutdown.drain_timeout`
        drain_timeout: Duration,
        /// `shutdown.hook_timeout`
        hook_timeout: Duration,
        /// How many hooks run one after another.
        hooks: usize,
        /// The sum.
        needed: Duration,
        /// `shutdown.timeout`
        timeout: Duration,
    },
    /// The deadline, the final export (the linger, or the push if a
    /// Pushgateway is set and its bound is longer) and the margin exceed the
    /// Kubernetes grace period: `SIGKILL` would arrive first.
    OverGracePeriod {
        /// `shutdown.timeout`
        timeout: Duration,
        /// `metrics.linger`
        linger: Duration,
        /// [`PUSHGATEWAY_TIMEOUT`] when `metrics.pushgateway` is set, else
        /// `None`.
        push_timeout: Option<Duration>,
        /// [`BUDGET_MARGIN`]
        margin: Duration,
        /// The sum.
        needed: Duration,
        /// `shutdown.kubernetes_grace_period`
        grace_period: Duration,
    },
}

impl fmt::Display for BudgetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetProblem::OverTimeout {
                announce_delay,
                drain_timeout,
                hook_timeout,
                hooks,
                needed,
                timeout,
            } => write!(
                f,
                "shutdown budget: shutdown.announce_delay {} + shutdown.drain_timeout {} + {hooks} × \
                 shutdown.hook_timeout {} = {} does not fit in shutdown.timeout {}: the last hooks \
                 would be cut; raise the timeout or lower the others",
                show(*announce_delay),
                show(*drain_timeout),
                show(*hook_timeout),
                show(*needed),
                show(*timeout),
            ),
            BudgetProblem::OverGracePeriod {
                timeout,
                linger,
                push_timeout,
                margin,
                needed,
                grace_period,
            } => {
                let export = match push_timeout {
                    None => format!("metrics.linger {}", show(*linger)),
                    Some(push) => format!(
                        "max(metrics.linger {}, Pushgateway push timeout {})",
                        show(*linger),
                        show(*push)
                    ),
                };
                write!(
                    f,
                    "shutdown budget: shutdown.timeout {} + {export} + margin {} = {} does not \
                     fit in shutdown.kubernetes_grace_period {}: SIGKILL would cut the shutdown \
                     short; raise the grace period or lower the timeout",
                    show(*timeout),
                    show(*margin),
                    show(*needed),
                    show(*grace_period),
                )
            }
        }
    }
}

/// The timings a budget is checked with.
struct Timings {
    timeout: Duration,
    announce_delay: Duration,
    drain_timeout: Duration,
    hook_timeout: Duration,
    hooks: usize,
}

impl Config {
    /// What does not fit, for `hooks` hooks run one after another with the
    /// default hook timeout (the check at load time assumes one; once the
    /// hooks are registered, [`budget_problems_for`](Self::budget_problems_for)
    /// counts them for you).
    ///
    /// - announce + drain + `hooks` × hook timeout must fit in the timeout;
    /// - timeout + the final export + [`BUDGET_MARGIN`] must fit in the
    ///   Kubernetes grace period, if one is configured; the final export
    ///   counts as `metrics.linger`, or as [`PUSHGATEWAY_TIMEOUT`] if
    ///   `metrics.pushgateway` is set and that is longer (the push runs at
    ///   the same time as the linger).
    ///
    /// The sums saturate: no value makes this panic.
    ///
    /// ```
    /// use winddown_config::{BudgetProblem, Config};
    ///
    /// let config = Config::default(); // 30s timeout, 15s drain, 5s per hook
    /// assert!(config.budget_problems(3).is_empty()); // 15s + 3 × 5s = 30s
    /// let problems = config.budget_problems(4); // 35s
    /// assert!(matches!(problems[..], [BudgetProblem::OverTimeout { hooks: 4, .. }]));
    /// assert!(problems[0].to_string().contains("= 35s does not fit in shutdown.timeout 30s"));
    /// ```
    pub fn budget_problems(&self, hooks: usize) -> Vec<BudgetProblem> {
        let s = &self.shutdown;
        self.problems(&Timings {
            timeout: s.timeout,
            announce_delay: s.announce_delay,
            drain_timeout: s.drain_timeout,
            hook_timeout: s.hook_timeout,
            hooks,
        })
    }

    /// What does not fit for `shutdown` as built: its timings
    /// ([`Shutdown::settings`]) and the hooks registered on it
    /// ([`Shutdown::hook_count`]), each counted at the default hook timeout,
    /// one after another (an upper bound when a phase runs concurrently);
    /// the linger and grace period from this configuration. Call it once
    /// every component has registered its hooks.
    ///
    /// ```
    /// use winddown_config::{BudgetProblem, Config};
    ///
    /// let config = Config::load_from(None, [("APP__SHUTDOWN__HOOK_TIMEOUT", "6s")]).unwrap();
    /// let shutdown = config.shutdown.builder().no_signals().build();
    /// for name in ["queue", "cache", "db"] {
    ///     shutdown.on_cleanup(name, |_| async { Ok(()) }).unwrap();
    /// }
    /// // 0s + 15s + 3 × 6s = 33s > 30s
    /// let problems = config.budget_problems_for(&shutdown);
    /// assert!(matches!(problems[..], [BudgetProblem::OverTimeout { hooks: 3, .. }]));
    /// ```
    pub fn budget_problems_for(&self, shutdown: &Shutdown) -> Vec<BudgetProblem> {
        let settings = shutdown.settings();
        self.problems(&Timings {
            timeout: settings.timeout,
            announce_delay: settings.announce_delay,
            drain_timeout: settings.drain_timeout,
            hook_timeout: settings.hook_timeout,
            hooks: shutdown.hook_count(),
        })
    }

    fn problems(&self, t: &Timings) -> Vec<BudgetProblem> {
        let mut problems = Vec::new();
        let hook_count = u32::try_from(t.hooks).unwrap_or(u32::MAX);
        // Saturating: the fields are public, so any `Duration` can get here.
        let needed = t
            .announce_delay
            .saturating_add(t.drain_timeout)
            .saturating_add(t.hook_timeout.saturating_mul(hook_count));
        if needed > t.timeout {
            problems.push(BudgetProblem::OverTimeout {
                announce_delay: t.announce_delay,
                drain_timeout: t.drain_timeout,
                hook_timeout: t.hook_timeout,
                hooks: t.hooks,
                needed,
                timeout: t.timeout,
            });
        }
        if let Some(grace_period) = self.shutdown.kubernetes_grace_period {
            let needed = t
                .timeout
                .saturating_add(self.metrics.final_export_time())
                .saturating_add(BUDGET_MARGIN);
            if needed > grace_period {
                problems.push(BudgetProblem::OverGracePeriod {
                    timeout: t.timeout,
                    linger: self.metrics.linger,
                    push_timeout: self
                        .metrics
                        .pushgateway
                        .is_some()
                        .then_some(PUSHGATEWAY_TIMEOUT),
                    margin: BUDGET_MARGIN,
                    needed,
                    grace_period,
                });
            }
        }
        problems
    }

    /// Checks the budget for one hook (see
    /// [`check_budget_for_hooks`](Self::check_budget_for_hooks)); [`load`](Self::load)
    /// calls it.
    ///
    /// # Errors
    ///
    /// With `shutdown.budget_check = "error"`, the first problem.
    ///
    /// ```
    /// use winddown_config::{Config, ConfigError};
    ///
    /// let env = [("APP__SHUTDOWN__BUDGET_CHECK", "error")];
    /// let config = Config::load_from(None, env).unwrap();
    /// assert!(config.check_budget().is_ok()); // 15s + 1 × 5s = 20s
    ///
    /// // `load` checks it too: a drain as long as the timeout leaves no room.
    /// let env = [
    ///     ("APP__SHUTDOWN__BUDGET_CHECK", "error"),
    ///     ("APP__SHUTDOWN__DRAIN_TIMEOUT", "30s"),
    /// ];
    /// assert!(matches!(Config::load_from(None, env), Err(ConfigError::Budget(_))));
    /// ```
    pub fn check_budget(&self) -> Result<(), ConfigError> {
        self.check_budget_for_hooks(1)
    }

    /// Checks the budget for `hooks` hooks, as `shutdown.budget_check` says:
    /// `warn` logs each problem through `tracing` (install the subscriber
    /// first, or call this again after), `error` returns the first one,
    /// `off` says nothing.
    ///
    /// # Errors
    ///
    /// With `shutdown.budget_check = "error"`, the first problem.
    ///
    /// ```
    /// use winddown_config::{Config, ConfigError};
    ///
    /// let config = Config::load_from(None, [("APP__SHUTDOWN__BUDGET_CHECK", "error")]).unwrap();
    /// // 0s + 15s + 4 × 5s = 35s > 30s
    /// assert!(matches!(config.check_budget_for_hooks(4), Err(ConfigError::Budget(_))));
    /// assert!(config.check_budget_for_hooks(3).is_ok());
    /// ```
    pub fn check_budget_for_hooks(&self, hooks: usize) -> Result<(), ConfigError> {
        self.report_budget(self.budget_problems(hooks))
    }

    /// Checks the budget of `shutdown` as built, counting the hooks
    /// registered on it (see [`budget_problems_for`](Self::budget_problems_for)),
    /// as `shutdown.budget_check` says: `warn` logs each problem through
    /// `tracing`, `error` returns the first one, `off` says nothing. What a
    /// service calls once its components have registered their hooks.
    ///
    /// # Errors
    ///
    /// With `shutdown.budget_check = "error"`, the first problem.
    ///
    /// ```
    /// use winddown_config::{Config, ConfigError};
    ///
    /// let config = Config::load_from(None, [("APP__SHUTDOWN__BUDGET_CHECK", "error")]).unwrap();
    /// let shutdown = config.shutdown.builder().no_signals().build();
    /// for name in ["a", "b", "c"] {
    ///     shutdown.on_cleanup(name, |_| async { Ok(()) }).unwrap();
    /// }
    /// assert!(config.check_budget_for(&shutdown).is_ok()); // 15s + 3 × 5s = 30s
    /// shutdown.on_cleanup("d", |_| async { Ok(()) }).unwrap();
    /// assert!(matches!(config.check_budget_for(&shutdown), Err(ConfigError::Budget(_))));
    /// ```
    pub fn check_budget_for(&self, shutdown: &Shutdown) -> Result<(), ConfigError> {
        self.report_budget(self.budget_problems_for(shutdown))
    }

    fn report_budget(&self, problems: Vec<BudgetProblem>) -> Result<(), ConfigError> {
        match self.shutdown.budget_check {
            BudgetCheck::Off => Ok(()),
            BudgetCheck::Warn => {
                for problem in &problems {
                    warn!(target: "winddown", "{problem}");
                }
                Ok(())
            }
            BudgetCheck::Error => match problems.into_iter().next() {
                Some(problem) => Err(ConfigError::Budget(problem)),
                None => Ok(()),
            },
        }
    }
}
