//! Layered configuration for winddown services, with one clear line per bad
//! value.
//!
//! - One [`Config`] tree for every knob (`[server]`, `[shutdown]`,
//!   `[metrics]`, `[log]`), human durations (`"250ms"`, `"5s"`), defaults
//!   that are right out of the box.
//! - [`Config::load`]: defaults, then a TOML file, then environment variables
//!   with the `APP` prefix and `__` separator (`APP__SHUTDOWN__DRAIN_TIMEOUT=10s`).
//! - A bad value, a wrong type, a negative or zero duration where that makes
//!   no sense, or a duration over [`MAX_DURATION`] (24 h) is a [`ConfigError`]
//!   that names the key, the value, what was expected and where the value
//!   came from; an unknown key names the key and where it came from, never
//!   its value (it may be a secret);
//!   [`Config::load_or_exit`] prints it and exits with [`EX_CONFIG`] (78)
//!   before anything starts.
//! - A budget check warns (or fails) when the timings cannot fit in the
//!   global deadline, or the deadline and the final metrics export (linger,
//!   Pushgateway push) in the Kubernetes grace period
//!   ([`Config::budget_problems`]).
//! - [`ShutdownConfig::builder`] configures the core's
//!   [`Shutdown`](winddown_core::Shutdown), `ShutdownConfig::drain_layer`
//!   (feature `http`) the drain layer, and [`Config::check_budget_for`]
//!   checks the budget against the hooks registered on it. The HTTP and
//!   metrics parts are plain data (`Duration`, `Vec<String>`,
//!   `Option<String>`, `Option<PathBuf>`), so other crates need not depend
//!   on this one.
//! - Limits: every duration at most [`MAX_DURATION`] (24 h), the file at
//!   most [`MAX_FILE_SIZE`] (1 MiB) and a regular file; credentials in a URL
//!   are shown as `***` in every message (a URL that does not parse shows
//!   its scheme only), control characters escaped; an `APP__…` variable
//!   must be UTF-8.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use winddown_config::Config;
//!
//! let file = std::env::temp_dir().join(format!("winddown-config-doc-{}.toml", std::process::id()));
//! std::fs::write(&file, "[shutdown]\ndrain_timeout = \"20s\"\nhook_timeout = \"2s\"\n").unwrap();
//!
//! // The file, then the environment over it.
//! let config = Config::load_from(Some(&file), [("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s")]).unwrap();
//! assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(10));
//! assert_eq!(config.shutdown.hook_timeout, Duration::from_secs(2));
//!
//! let shutdown = config.shutdown.builder().no_signals().build();
//! assert_eq!(shutdown.settings().drain_timeout, Duration::from_secs(10));
//!
//! // A bad value: one line, naming the key, the value and what was expected.
//! let err = Config::load_from(Some(&file), [("APP__SHUTDOWN__TIMEOUT", "5 parsecs")]).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     r#"shutdown.timeout: expected a duration greater than zero like "30s" or "500ms", got "5 parsecs" (from APP__SHUTDOWN__TIMEOUT)"#
//! );
//! # std::fs::remove_file(&file).unwrap();
//! ```

mod app;
mod budget;
mod config;
mod de;
mod error;
mod load;
mod raw;
mod schema;

pub use crate::config::{
    BudgetCheck, Config, LogConfig, LogFormat, MAX_DURATION, MetricsConfig, ServerConfig,
    ShutdownConfig,
};
pub use budget::{BUDGET_MARGIN, BudgetProblem, PUSHGATEWAY_TIMEOUT};
pub use error::{ConfigError, EX_CONFIG, Origin};
pub use load::{ENV_PREFIX, ENV_SEPARATOR, MAX_FILE_SIZE};
