//! The default values of every setting, defined once.
//!
//! The core's [`Settings::default`](crate::Settings), the configuration
//! loader and the HTTP layer all read their defaults from here, so a
//! default changes in one place. Nothing here reads the environment, except
//! [`announce_delay_from_env`], whose name says so.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use winddown_core::{Settings, defaults};
//!
//! let settings = Settings::default();
//! assert_eq!(settings.timeout, defaults::TIMEOUT);
//! assert_eq!(settings.announce_delay, Duration::ZERO);
//! assert_eq!(defaults::EXEMPT_PATHS, ["/healthz", "/readyz", "/metrics"]);
//! ```

use std::time::Duration;

/// The global deadline T for the whole sequence: 30 s, Kubernetes' default
/// `terminationGracePeriodSeconds`.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The announce delay D outside Kubernetes: none.
pub const ANNOUNCE_DELAY: Duration = Duration::ZERO;

/// The announce delay D under Kubernetes (see [`announce_delay_from_env`]):
/// long enough for endpoints to drop a terminating pod.
pub const KUBERNETES_ANNOUNCE_DELAY: Duration = Duration::from_secs(5);

/// The drain timeout X: 15 s.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The per-hook timeout for hooks that set none: 5 s.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a hook may still run after its cancellation token fired at its
/// deadline, so that it can react (log what is left, return an error)
/// before it is dropped: 100 ms. This grace is counted inside the global
/// deadline: near the end of it, hooks are cancelled this much earlier.
pub const HOOK_CANCEL_GRACE: Duration = Duration::from_millis(100);

/// The `Retry-After` of the HTTP layer's 503 answers: 5 s.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The paths exempt from draining: the probes and the metrics endpoint.
pub const EXEMPT_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The exit code of an unclean shutdown: 1.
pub const FAILURE_EXIT_CODE: i32 = 1;

/// The environment variable Kubernetes sets in every container.
pub const KUBERNETES_ENV: &str = "KUBERNETES_SERVICE_HOST";

/// The announce delay for the environment this process runs in: the one
/// place that looks at it. [`KUBERNETES_ANNOUNCE_DELAY`] when
/// `KUBERNETES_SERVICE_HOST` is set (the process runs in a Kubernetes pod),
/// [`ANNOUNCE_DELAY`] (zero) otherwise.
///
/// Called by [`ShutdownBuilder::announce_delay_from_env`](crate::ShutdownBuilder::announce_delay_from_env)
/// and by the configuration loader; never by a `Default`.
///
/// ```
/// use winddown_core::defaults;
///
/// let delay = defaults::announce_delay_from_env();
/// let in_a_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
/// assert_eq!(delay, defaults::announce_delay_for(in_a_pod));
/// ```
pub fn announce_delay_from_env() -> Duration {
    announce_delay_for(std::env::var_os(KUBERNETES_ENV).is_some())
}

/// The announce delay default inside Kubernetes or not, without looking at
/// the environment.
///
/// ```
/// use winddown_core::defaults;
///
/// assert_eq!(defaults::announce_delay_for(true), defaults::KUBERNETES_ANNOUNCE_DELAY);
/// assert_eq!(defaults::announce_delay_for(false), defaults::ANNOUNCE_DELAY);
/// ```
pub const fn announce_delay_for(under_kubernetes: bool) -> Duration {
    if under_kubernetes {
        KUBERNETES_ANNOUNCE_DELAY
    } else {
        ANNOUNCE_DELAY
    }
}
