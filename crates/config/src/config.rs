//! The configuration tree: every knob of a winddown service.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use winddown_core::text::redact_url;
use winddown_core::{Shutdown, ShutdownBuilder, defaults};

use crate::de::{self, show};

/// The longest duration any key takes: 24 hours.
///
/// Every duration of the configuration (`shutdown.timeout`,
/// `announce_delay`, `drain_timeout`, `hook_timeout`, `retry_after`,
/// `kubernetes_grace_period`, `metrics.linger`) must be at most this; a
/// longer one is refused at load time with a message naming the key, the
/// value and this maximum. A shutdown is a matter of seconds to minutes:
/// Kubernetes' default `terminationGracePeriodSeconds` is 30 s, and although
/// the field has no upper bound, a grace period of a day is already far past
/// any drain a load balancer waits for. A bound this far above real use
/// refuses typos (`"300000000000y"`) and overflows, never a real setting.
///
/// ```
/// use winddown_config::{Config, MAX_DURATION};
///
/// assert_eq!(MAX_DURATION, std::time::Duration::from_secs(24 * 60 * 60));
/// assert!(Config::load_from(None, [("APP__SHUTDOWN__TIMEOUT", "24h")]).is_ok());
/// let err = Config::load_from(None, [("APP__SHUTDOWN__TIMEOUT", "25h")]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     r#"shutdown.timeout: expected a duration of at most "24h" (the longest any winddown duration may be), got "25h" (from APP__SHUTDOWN__TIMEOUT)"#
/// );
/// ```
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The whole configuration: `[server]`, `[shutdown]`, `[metrics]`, `[log]`.
///
/// Load it with [`Config::load`] (defaults, then a TOML file, then `APP__…`
/// environment variables). Every key is optional; the defaults are right out
/// of the box. It prints as the TOML it stands for.
///
/// ```toml
/// [server]
/// addr = "0.0.0.0:8080"
///
/// [shutdown]
/// timeout = "30s"                # global deadline for the whole sequence
/// announce_delay = "0s"          # "5s" by default under Kubernetes
/// drain_timeout = "15s"          # wait for in-flight requests and tracked tasks
/// hook_timeout = "5s"            # default per-hook timeout
/// retry_after = "5s"             # Retry-After of 503 answers
/// exempt_paths = ["/healthz", "/readyz", "/metrics"]
/// kubernetes_grace_period = ""   # e.g. "30s": checks the budget against it
/// budget_check = "warn"          # "warn", "error" or "off"
///
/// [metrics]
/// linger = "0s"                  # after cleanup, wait up to this for one more scrape
/// pushgateway = ""               # Pushgateway base URL; "" = off
/// push_instance = ""             # absent: the host name; "" = group by job only
/// textfile = ""                  # node_exporter textfile path; "" = off
///
/// [log]
/// format = "text"                # or "json"
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_config::Config;
///
/// let config = Config::load_from(None, [("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s")]).unwrap();
/// assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(10));
/// assert_eq!(config.shutdown.timeout, Duration::from_secs(30));
/// assert!(config.to_string().contains("drain_timeout = \"10s\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[shutdown]`
    pub shutdown: ShutdownConfig,
    /// `[metrics]`
    pub metrics: MetricsConfig,
    /// `[log]`
    pub log: LogConfig,
}

/// `[server]`: where the service listens.
///
/// ```
/// use winddown_config::Config;
///
/// let config = Config::load_from(None, [("APP__SERVER__ADDR", "127.0.0.1:3000")]).unwrap();
/// assert_eq!(config.server.addr.port(), 3000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `server.addr`: the socket address to bind (default `0.0.0.0:8080`).
    #[serde(with = "de::addr")]
    pub addr: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
        }
    }
}

/// `[shutdown]`: the timings of the sequence and of the drain layer.
///
/// [`builder`](Self::builder) turns it into a [`ShutdownBuilder`];
/// `drain_layer` (feature `http`) turns the HTTP parts (`retry_after`,
/// `exempt_paths`) into the drain layer.
///
/// ```
/// use std::time::Duration;
/// use winddown_config::Config;
///
/// let env = [("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s")];
/// let config = Config::load_from(None, env).unwrap();
/// assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(10));
/// let shutdown = config.shutdown.builder().no_signals().build();
/// # drop(shutdown);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ShutdownConfig {
    /// `shutdown.timeout`: the global deadline, trigger to done (30 s; not zero).
    #[serde(with = "de::positive_duration")]
    pub timeout: Duration,
    /// `shutdown.announce_delay`: readiness fails while traffic is still
    /// served (0, or 5 s when `KUBERNETES_SERVICE_HOST` is set).
    #[serde(with = "de::duration")]
    pub announce_delay: Duration,
    /// `shutdown.drain_timeout`: how long in-flight work may take (15 s; zero
    /// cuts it at once).
    #[serde(with = "de::duration")]
    pub drain_timeout: Duration,
    /// `shutdown.hook_timeout`: a hook's timeout unless it sets its own (5 s;
    /// not zero).
    #[serde(with = "de::positive_duration")]
    pub hook_timeout: Duration,
    /// `shutdown.retry_after`: the `Retry-After` of 503 answers (5 s; whole
    /// seconds).
    #[serde(with = "de::whole_seconds")]
    pub retry_after: Duration,
    /// `shutdown.exempt_paths`: served in every state, never counted in
    /// flight (`/healthz`, `/readyz`, `/metrics`).
    #[serde(with = "de::path_list")]
    pub exempt_paths: Vec<String>,
    /// `shutdown.kubernetes_grace_period`: the pod's
    /// `terminationGracePeriodSeconds`, to check the budget against (none).
    #[serde(with = "de::grace_period")]
    pub kubernetes_grace_period: Option<Duration>,
    /// `shutdown.budget_check`: what a budget that does not fit does
    /// (`warn`).
    pub budget_check: BudgetCheck,
}

/// The defaults outside Kubernetes, whatever the environment: pure, like the
/// core's. Loading ([`Config::load`](crate::Config::load)) is the step that
/// looks at `KUBERNETES_SERVICE_HOST`.
impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig::defaults(false)
    }
}

impl ShutdownConfig {
    pub(crate) fn defaults(under_kubernetes: bool) -> Self {
        ShutdownConfig {
            timeout: defaults::TIMEOUT,
            announce_delay: defaults::announce_delay_for(under_kubernetes),
            drain_timeout: defaults::DRAIN_TIMEOUT,
            hook_timeout: defaults::HOOK_TIMEOUT,
            retry_after: defaults::RETRY_AFTER,
            exempt_paths: defaults::EXEMPT_PATHS.map(String::from).to_vec(),
            kubernetes_grace_period: None,
            budget_check: BudgetCheck::Warn,
        }
    }

    /// A [`ShutdownBuilder`] with these timings (and the core's defaults for
    /// the rest: signals, exit codes).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_config::Config;
    ///
    /// let config = Config::load_from(None, [("APP__SHUTDOWN__TIMEOUT", "20s")]).unwrap();
    /// let shutdown = config.shutdown.builder().no_signals().build();
    /// assert_eq!(shutdown.settings().timeout, Duration::from_secs(20));
    /// ```
    pub fn builder(&self) -> ShutdownBuilder {
        self.apply(Shutdown::builder())
    }

    /// Sets these timings on `builder`, keeping what else it was told.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_config::Config;
    /// use winddown_core::Shutdown;
    ///
    /// let config = Config::load_from(None, [("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s")]).unwrap();
    /// let builder = Shutdown::builder().no_signals().failure_exit_code(70);
    /// let settings = config.shutdown.apply(builder).settings().clone();
    /// assert_eq!(settings.drain_timeout, Duration::from_secs(10));
    /// assert_eq!(settings.failure_exit_code, 70);
    /// ```
    pub fn apply(&self, builder: ShutdownBuilder) -> ShutdownBuilder {
        builder
            .timeout(self.timeout)
            .announce_delay(self.announce_delay)
            .drain_timeout(self.drain_timeout)
            .hook_timeout(self.hook_timeout)
    }
}

#[cfg(feature = "http")]
impl ShutdownConfig {
    /// The [`DrainLayer`](winddown_http::DrainLayer) draining on `shutdown`
    /// with these settings: `Retry-After` from `retry_after`, the exempt
    /// paths from `exempt_paths`. One call, so that neither is left out.
    /// (Feature `http`; on in the `winddown` facade.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_config::Config;
    ///
    /// let config = Config::load_from(
    ///     None,
    ///     [
    ///         ("APP__SHUTDOWN__RETRY_AFTER", "10s"),
    ///         ("APP__SHUTDOWN__EXEMPT_PATHS", "/livez,/metrics"),
    ///     ],
    /// )
    /// .unwrap();
    /// let shutdown = config.shutdown.builder().no_signals().build();
    /// let layer = config.shutdown.drain_layer(&shutdown);
    /// assert_eq!(layer.retry_after_duration(), Duration::from_secs(10));
    /// assert_eq!(layer.exempt_path_list(), ["/livez", "/metrics"]);
    /// ```
    pub fn drain_layer(&self, shutdown: &Shutdown) -> winddown_http::DrainLayer {
        winddown_http::DrainLayer::new(shutdown.clone())
            .retry_after(self.retry_after)
            .exempt_paths(self.exempt_paths.iter().cloned())
    }
}

impl From<&ShutdownConfig> for ShutdownBuilder {
    fn from(config: &ShutdownConfig) -> ShutdownBuilder {
        config.builder()
    }
}

/// What a shutdown budget that does not fit does; see
/// [`Config::check_budget`](crate::Config::check_budget).
///
/// ```
/// use winddown_config::{BudgetCheck, Config};
///
/// let config = Config::load_from(None, [("APP__SHUTDOWN__BUDGET_CHECK", "error")]).unwrap();
/// assert_eq!(config.shutdown.budget_check, BudgetCheck::Error);
/// assert_eq!(BudgetCheck::default(), BudgetCheck::Warn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetCheck {
    /// Log a warning (the default).
    #[default]
    Warn,
    /// Refuse the configuration.
    Error,
    /// Say nothing.
    Off,
}

/// `[metrics]`: how the last shutdown's figures get out.
///
/// Its `Debug` shows the Pushgateway URL with any user information as `***`
/// (a loaded configuration has none: such a URL is refused).
///
/// ```
/// use std::time::Duration;
/// use winddown_config::Config;
///
/// let env = [
///     ("APP__METRICS__LINGER", "5s"),
///     ("APP__METRICS__PUSHGATEWAY", "http://pushgateway:9091"),
/// ];
/// let config = Config::load_from(None, env).unwrap();
/// assert_eq!(config.metrics.linger, Duration::from_secs(5));
/// assert_eq!(config.metrics.pushgateway.as_deref(), Some("http://pushgateway:9091"));
/// assert_eq!(config.metrics.textfile, None);
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// `metrics.linger`: after cleanup, wait up to this for one more scrape
    /// of `/metrics` (0: off).
    #[serde(with = "de::duration")]
    pub linger: Duration,
    /// `metrics.pushgateway`: the Pushgateway base URL to push to once
    /// (`None`: off): `http://`, a host, a port from 1 to 65535 if a `:`
    /// follows the host (none: 80), an optional path prefix; no
    /// credentials (any `@` after `http://` counts as their end), query or
    /// fragment.
    #[serde(with = "de::pushgateway_url")]
    pub pushgateway: Option<String>,
    /// `metrics.push_instance`: the `instance` of the Pushgateway group
    /// (`None`: the host name; `Some("")`: group by job only).
    #[serde(with = "de::instance", skip_serializing_if = "Option::is_none")]
    pub push_instance: Option<String>,
    /// `metrics.textfile`: the node_exporter textfile to write (`None`: off).
    #[serde(with = "de::textfile")]
    pub textfile: Option<PathBuf>,
}

impl MetricsConfig {
    /// The longest the final export may run after the shutdown's deadline:
    /// `metrics.linger`, or
    /// [`PUSHGATEWAY_TIMEOUT`](crate::PUSHGATEWAY_TIMEOUT) (3 s) if
    /// `metrics.pushgateway` is set and that is longer, as the push runs
    /// at the same time as the linger. (Writing the textfile is local and
    /// not counted.) What the platform's grace period must leave room for
    /// after `shutdown.timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_config::Config;
    ///
    /// let config = Config::load_from(None, [("APP__METRICS__LINGER", "1s")]).unwrap();
    /// assert_eq!(config.metrics.final_export_time(), Duration::from_secs(1));
    ///
    /// let env = [
    ///     ("APP__METRICS__LINGER", "1s"),
    ///     ("APP__METRICS__PUSHGATEWAY", "http://pushgateway:9091"),
    /// ];
    /// let config = Config::load_from(None, env).unwrap();
    /// assert_eq!(config.metrics.final_export_time(), Duration::from_secs(3));
    /// ```
    pub fn final_export_time(&self) -> Duration {
        match self.pushgateway {
            Some(_) => self.linger.max(crate::PUSHGATEWAY_TIMEOUT),
            None => self.linger,
        }
    }
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("linger", &self.linger)
            .field("pushgateway", &self.pushgateway.as_deref().map(redact_url))
            .field("push_instance", &self.push_instance)
            .field("textfile", &self.textfile)
            .finish()
    }
}

/// `[log]`
///
/// ```
/// use winddown_config::{Config, LogFormat};
///
/// let config = Config::load_from(None, [("APP__LOG__FORMAT", "json")]).unwrap();
/// assert_eq!(config.log.format, LogFormat::Json);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LogConfig {
    /// `log.format`: `text` (default) or `json`.
    pub format: LogFormat,
}

/// The log line format.
///
/// ```
/// use winddown_config::{Config, LogFormat};
///
/// assert_eq!(LogFormat::default(), LogFormat::Text);
/// let error = Config::load_from(None, [("APP__LOG__FORMAT", "yaml")]).unwrap_err();
/// assert!(error.to_string().contains("log.format"), "{error}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The TOML this configuration stands for, every key written out.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.shutdown;
        let m = &self.metrics;
        let paths: Vec<String> = s.exempt_paths.iter().map(|p| format!("{p:?}")).collect();
        writeln!(f, "[server]")?;
        writeln!(f, "addr = \"{}\"", self.server.addr)?;
        writeln!(f)?;
        writeln!(f, "[shutdown]")?;
        writeln!(f, "timeout = \"{}\"", show(s.timeout))?;
        writeln!(f, "announce_delay = \"{}\"", show(s.announce_delay))?;
        writeln!(f, "drain_timeout = \"{}\"", show(s.drain_timeout))?;
        writeln!(f, "hook_timeout = \"{}\"", show(s.hook_timeout))?;
        writeln!(f, "retry_after = \"{}\"", show(s.retry_after))?;
        writeln!(f, "exempt_paths = [{}]", paths.join(", "))?;
        writeln!(
            f,
            "kubernetes_grace_period = \"{}\"",
            s.kubernetes_grace_period.map(show).unwrap_or_default()
        )?;
        let check = match s.budget_check {
            BudgetCheck::Warn => "warn",
            BudgetCheck::Error => "error",
            BudgetCheck::Off => "off",
        };
        writeln!(f, "budget_check = \"{check}\"")?;
        writeln!(f)?;
        writeln!(f, "[metrics]")?;
        writeln!(f, "linger = \"{}\"", show(m.linger))?;
        // Never a password (a loaded configuration has none).
        writeln!(
            f,
            "pushgateway = {:?}",
            redact_url(m.pushgateway.as_deref().unwrap_or_default())
        )?;
        if let Some(instance) = &m.push_instance {
            writeln!(f, "push_instance = {instance:?}")?;
        }
        writeln!(
            f,
            "textfile = {:?}",
            m.textfile
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )?;
        writeln!(f)?;
        writeln!(f, "[log]")?;
        let format = match self.log.format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        write!(f, "format = \"{format}\"")
    }
}
