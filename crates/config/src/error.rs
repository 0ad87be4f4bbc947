//! Configuration errors: one line each, naming the key, the value
//! (credentials shown as `***`), what was expected and where the value came
//! from; an unknown key is named without its value.

use std::fmt;
use std::path::PathBuf;

use crate::BudgetProblem;
use winddown_core::text::shown;

/// The exit code of a service that refuses its configuration: `EX_CONFIG`
/// from `sysexits.h`.
pub const EX_CONFIG: i32 = 78;

/// Where a value came from.
///
/// Displays as the suffix of an error message: ` (from APP__SERVER__ADDR)`,
/// ` (in config/default.toml)`, or nothing for a default.
///
/// ```
/// use winddown_config::Origin;
///
/// assert_eq!(Origin::Env("APP__SERVER__ADDR".into()).to_string(), " (from APP__SERVER__ADDR)");
/// assert_eq!(Origin::Default.to_string(), "");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A built-in default.
    Default,
    /// A configuration file.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => Ok(()),
            Origin::File(path) => write!(f, " (in {})", shown(&path.display().to_string())),
            Origin::Env(name) => write!(f, " (from {})", shown(name)),
        }
    }
}

/// A configuration the service must not start with.
///
/// Every variant prints as one line an operator can act on. Applications
/// call [`exit`](Self::exit) (or [`Config::load_or_exit`](crate::Config::load_or_exit)),
/// which prints it and exits with [`EX_CONFIG`].
///
/// # Examples
///
/// ```
/// use winddown_config::{Config, ConfigError};
///
/// let err = Config::load_from(None, [("APP__SHUTDOWN__DRAIN_TIMEOUT", "ten")]).unwrap_err();
/// assert!(matches!(err, ConfigError::Invalid { .. }));
/// assert_eq!(
///     err.to_string(),
///     r#"shutdown.drain_timeout: expected a duration like "15s" or "250ms", got "ten" (from APP__SHUTDOWN__DRAIN_TIMEOUT)"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value of the wrong type, unit, sign or range.
    #[error("{key}: expected {expected}, got {value}{origin}")]
    Invalid {
        /// The key, like `shutdown.drain_timeout`.
        key: String,
        /// The value as written (strings quoted).
        value: String,
        /// What the key accepts.
        expected: &'static str,
        /// Where the value came from.
        origin: Origin,
    },
    /// A key nobody reads (a typo, most likely). The message names the key
    /// and where it came from, never its value: an unknown key may be a
    /// secret the service reads on its own.
    #[error("{}: unknown key{origin}; {hint}", shown(key))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// What kind of value it holds (`a string`, `a table`, …), never
        /// the value itself.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// The closest known key, or the known ones.
        hint: String,
    },
    /// The file is missing, is not a regular file, cannot be read, is too
    /// large or is not valid TOML.
    #[error("{}: {}", shown(&path.display().to_string()), shown(message))]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The timings do not fit (with `shutdown.budget_check = "error"`).
    #[error("{0}")]
    Budget(BudgetProblem),
    /// Any other failure of the configuration loader.
    #[error("cannot load the configuration: {}", shown(.0))]
    Load(String),
}

impl ConfigError {
    /// Prints `configuration error: <this error>` on stderr and exits the
    /// process with [`EX_CONFIG`] (78). What a service does when its
    /// configuration is bad: nothing has started yet.
    ///
    /// ```no_run
    /// // Exits the process.
    /// use winddown_config::Config;
    ///
    /// let config = Config::load(None).unwrap_or_else(|error| error.exit());
    /// # let _ = config;
    /// ```
    pub fn exit(&self) -> ! {
        eprintln!("configuration error: {self}");
        std::process::exit(EX_CONFIG)
    }
}
