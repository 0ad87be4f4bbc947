//! The application's own sections, loaded beside winddown's from the same
//! file and the same environment.

use std::path::Path;

use serde::de::DeserializeOwned;

use winddown_core::text::shown;

use crate::load::{load_tree, one_line, utf8_env};
use crate::{Config, ConfigError};

impl Config {
    /// [`load`](Self::load), and the application's own configuration `T`
    /// from its `sections` of the same file and environment (`[database]`
    /// and `APP__DATABASE__URL` for a section `database`).
    ///
    /// winddown refuses keys it does not know, so that a typo in its own
    /// keys is an error rather than a silent default: the sections named
    /// here are left to `T` (deserialized with serde from the merged
    /// tree: fields for winddown's sections are not needed, and any other
    /// section is still an unknown key). A section may not take the name of
    /// one of winddown's (`server`, `shutdown`, `metrics`, `log`).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load); a section named like one of winddown's, or a
    /// `T` that cannot be read from the sections, is
    /// [`ConfigError::Load`] naming the key, what was expected and the kind
    /// of value found, never the value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use serde::Deserialize;
    /// use winddown_config::Config;
    ///
    /// #[derive(Deserialize)]
    /// struct App {
    ///     database: Database,
    /// }
    ///
    /// #[derive(Deserialize)]
    /// struct Database {
    ///     url: String,
    ///     #[serde(default)]
    ///     pool_size: Option<u32>,
    /// }
    ///
    /// let env = [
    ///     ("APP__DATABASE__URL", "postgres://db/orders"),
    ///     ("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s"),
    /// ];
    /// let (config, app): (Config, App) = Config::load_from_with_app(None, env, &["database"])?;
    /// assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(10));
    /// assert_eq!(app.database.url, "postgres://db/orders");
    /// assert_eq!(app.database.pool_size, None);
    ///
    /// // Other sections are still unknown keys.
    /// let error = Config::load_from(None, [("APP__DATABASE__URL", "postgres://db/orders")]);
    /// assert!(error.unwrap_err().to_string().starts_with("database: unknown key"));
    /// # Ok::<(), winddown_config::ConfigError>(())
    /// ```
    pub fn load_with_app<T>(
        file: Option<&Path>,
        sections: &[&str],
    ) -> Result<(Config, T), ConfigError>
    where
        T: DeserializeOwned,
    {
        let env = utf8_env(std::env::vars_os())?;
        Config::load_from_with_app(file, env, sections)
    }

    /// [`load_with_app`](Self::load_with_app) with an explicit environment
    /// instead of the process's.
    ///
    /// # Errors
    ///
    /// See [`load_with_app`](Self::load_with_app).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::Deserialize;
    /// use winddown_config::Config;
    ///
    /// #[derive(Debug, Deserialize)]
    /// struct App {
    ///     shutdown: Option<String>,
    /// }
    ///
    /// // winddown's sections are its own.
    /// let error = Config::load_from_with_app::<App, _, String, String>(None, [], &["shutdown"]);
    /// assert!(error.unwrap_err().to_string().contains("is one of winddown's"));
    /// ```
    pub fn load_from_with_app<T, I, K, V>(
        file: Option<&Path>,
        env: I,
        sections: &[&str],
    ) -> Result<(Config, T), ConfigError>
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let (config, tree) = load_tree(file, env, sections)?;
        let app = tree.try_deserialize().map_err(|error| {
            ConfigError::Load(format!(
                "the application's configuration ({}): {}",
                sections.join(", "),
                without_values(&error, None)
            ))
        })?;
        Ok((config, app))
    }
}

/// The message of an error reading the application's configuration, with no
/// value in it (a value may be a secret): the key, what was expected, and
/// what kind of value was found.
fn without_values(error: &config::ConfigError, key: Option<&str>) -> String {
    match error {
        config::ConfigError::Type {
            unexpected,
            expected,
            key: own,
            ..
        } => {
            // `string "…"`, `64-bit integer `…``, `map`: the words before
            // the value.
            let found = unexpected.to_string();
            let kind = found.split(['`', '"']).next().unwrap_or_default().trim();
            match own.as_deref().or(key) {
                Some(key) => format!("{}: expected {expected}, got a {kind}", shown(key)),
                None => format!("expected {expected}, got a {kind}"),
            }
        }
        config::ConfigError::At { error, key: at, .. } => {
            without_values(error, at.as_deref().or(key))
        }
        config::ConfigError::NotFound(key) => format!("{}: missing", shown(key)),
        other => masked(&one_line(&other.to_string())),
    }
}

/// `text` with what serde quotes of a value replaced by `***`: strings in
/// double quotes, and the name after ``variant `…` `` (field names in back
/// quotes stay).
fn masked(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let quote = rest.find('"');
        let variant = rest.find("variant `").map(|at| at + "variant ".len());
        let (start, close) = match (quote, variant) {
            (Some(q), Some(v)) if v < q => (v, '`'),
            (Some(q), _) => (q, '"'),
            (None, Some(v)) => (v, '`'),
            (None, None) => break,
        };
        shown.push_str(&rest[..=start]);
        shown.push_str("***");
        let after = &rest[start + 1..];
        match after.find(close) {
            Some(end) => {
                shown.push(close);
                rest = &after[end + 1..];
            }
            None => {
                rest = "";
                break;
            }
        }
    }
    shown.push_str(rest);
    shown
}

#[cfg(test)]
mod tests {
    use super::masked;

    #[test]
    fn quoted_values_and_variant_names_are_masked() {
        assert_eq!(
            masked(r#"invalid value: string "hunter 2", expected u32"#),
            r#"invalid value: string "***", expected u32"#
        );
        assert_eq!(
            masked("unknown variant `s3cret`, expected `a` or `b`"),
            "unknown variant `***`, expected `a` or `b`"
        );
        assert_eq!(masked("missing field `url`"), "missing field `url`");
        assert_eq!(masked(r#"cut "open"#), r#"cut "***"#);
    }
}
