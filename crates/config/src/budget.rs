//! The shutdown budget: do the timings fit in the deadline, and the deadline
//! in the platform's grace period?

use std::fmt;
use std::time::Duration;

use tracing::warn;

use crate::de::show;
use crate::{BudgetCheck, Config, ConfigError};

/// The room kept between the end of the shutdown and the platform's
/// `SIGKILL`: process exit, log flushing, clock skew.
pub const BUDGET_MARGIN: Duration = Duration::from_secs(2);

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
    /// The deadline, the linger and the margin exceed the Kubernetes grace
    /// period: `SIGKILL` would arrive first.
    OverGracePeriod {
        /// `shutdown.timeout`
        timeout: Duration,
        /// `metrics.linger`
        linger: Duration,
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
                margin,
                needed,
                grace_period,
            } => write!(
                f,
                "shutdown budget: shutdown.timeout {} + metrics.linger {} + margin {} = {} does not \
                 fit in shutdown.kubernetes_grace_period {}: SIGKILL would cut the shutdown short; \
                 raise the grace period or lower the timeout",
                show(*timeout),
                show(*linger),
                show(*margin),
                show(*needed),
                show(*grace_period),
            ),
        }
    }
}

impl Config {
    /// What does not fit, for `hooks` hooks run one after another with the
    /// default hook timeout (pass the number of hooks you register; the
    /// check at load time assumes one).
    ///
    /// - announce + drain + `hooks` × hook timeout must fit in the timeout;
    /// - timeout + linger + [`BUDGET_MARGIN`] must fit in the Kubernetes
    ///   grace period, if one is configured.
    pub fn budget_problems(&self, hooks: usize) -> Vec<BudgetProblem> {
        let s = &self.shutdown;
        let mut problems = Vec::new();
        let hook_count = u32::try_from(hooks).unwrap_or(u32::MAX);
        // Saturating: the fields are public, so any `Duration` can get here.
        let needed = s
            .announce_delay
            .saturating_add(s.drain_timeout)
            .saturating_add(s.hook_timeout.saturating_mul(hook_count));
        if needed > s.timeout {
            problems.push(BudgetProblem::OverTimeout {
                announce_delay: s.announce_delay,
                drain_timeout: s.drain_timeout,
                hook_timeout: s.hook_timeout,
                hooks,
                needed,
                timeout: s.timeout,
            });
        }
        if let Some(grace_period) = s.kubernetes_grace_period {
            let needed = s
                .timeout
                .saturating_add(self.metrics.linger)
                .saturating_add(BUDGET_MARGIN);
            if needed > grace_period {
                problems.push(BudgetProblem::OverGracePeriod {
                    timeout: s.timeout,
                    linger: self.metrics.linger,
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
        let problems = self.budget_problems(hooks);
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
