//! Loading: defaults, then a TOML file, then `APP__…` environment variables,
//! then every key checked before anything starts.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, FileType, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use config::{Environment, FileFormat, Format, Source, Value, ValueKind};
use winddown_core::defaults;
use winddown_core::text::shown;

use crate::raw::Raw;
use crate::schema::{self, KEYS, SECTIONS};
use crate::{Config, ConfigError, Origin};

/// The environment variable prefix: `APP__SHUTDOWN__DRAIN_TIMEOUT`.
pub const ENV_PREFIX: &str = "APP";
/// Separates the prefix, the section and the key in a variable's name.
pub const ENV_SEPARATOR: &str = "__";

/// The largest configuration file [`Config::load`] reads: 1 MiB. A larger
/// one is refused before it is read (a service's settings fit in a few
/// hundred bytes; anything this large is a mistake, or an attack on the
/// memory of the service).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

const ENV_ORIGIN: &str = "the environment";
const TABLE: &str = "a table of keys (a [section] in the file)";
const NOT_UTF8: &str =
    "UTF-8 text (the bytes of this value that are not UTF-8 are shown as \"\u{fffd}\")";

impl Config {
    /// Loads the configuration from the defaults, then `file` (TOML; an
    /// error if given and missing), then the process's `APP__…` environment
    /// variables; checks every key, then the budget (see
    /// [`check_budget`](Self::check_budget)).
    ///
    /// The file must be a regular file (a directory, FIFO or device is
    /// refused without being read) of at most [`MAX_FILE_SIZE`] (1 MiB),
    /// checked before reading; every duration at most
    /// [`MAX_DURATION`](crate::MAX_DURATION) (24 h).
    ///
    /// Environment variables name the key with `__` between the parts
    /// (`APP__SHUTDOWN__DRAIN_TIMEOUT=10s`, case does not matter); lists are
    /// comma-separated (`APP__SHUTDOWN__EXEMPT_PATHS=/healthz,/metrics`); an
    /// empty value sets an empty string (`APP__METRICS__PUSHGATEWAY=` turns
    /// the push off). Values are never guessed into numbers or booleans:
    /// every key says what text it takes. An `APP__…` variable must be
    /// UTF-8, name and value: one that is not is an error naming it (never
    /// a value other than the one set); other variables may hold any bytes.
    ///
    /// # Errors
    ///
    /// The first bad key (in alphabetical order), as one line: see
    /// [`ConfigError`]. Before them, an `APP__…` variable that is not UTF-8:
    /// [`ConfigError::Invalid`] naming the key, the value shown lossily
    /// (`�` for the bytes that are not UTF-8) and escaped, or
    /// [`ConfigError::UnknownKey`] for a name that is not UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use winddown_config::{Config, ConfigError};
    ///
    /// // A file that was named must exist.
    /// let error = Config::load(Some(Path::new("/nonexistent/orders.toml"))).unwrap_err();
    /// assert!(matches!(error, ConfigError::File { .. }));
    /// assert_eq!(error.to_string(), "/nonexistent/orders.toml: no such configuration file");
    ///
    /// // No file: the defaults, with this process's `APP__…` variables over
    /// // them (whatever they are where this runs: a bad one is an error).
    /// match Config::load(None) {
    ///     Ok(config) => {
    ///         let shutdown = config.shutdown.builder().no_signals().build();
    ///         assert_eq!(shutdown.settings().drain_timeout, config.shutdown.drain_timeout);
    ///     }
    ///     Err(error) => assert!(std::env::vars().any(|(name, _)| name.starts_with("APP__")), "{error}"),
    /// }
    /// ```
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let env = utf8_env(std::env::vars_os())?;
        Config::load_from(file, env)
    }

    /// [`load`](Self::load), or print the error and exit with
    /// [`EX_CONFIG`](crate::EX_CONFIG) (78): the one call a service makes
    /// before it starts anything.
    ///
    /// ```no_run
    /// // On a bad value, prints e.g. `configuration error: shutdown.drain_timeout:
    /// // expected a duration like "15s" or "250ms", got "ten" (from
    /// // APP__SHUTDOWN__DRAIN_TIMEOUT)` and exits with 78.
    /// use std::path::Path;
    /// use winddown_config::Config;
    ///
    /// let config = Config::load_or_exit(Some(Path::new("config/orders.toml")));
    /// let shutdown = config.shutdown.builder().build();
    /// # let _ = shutdown;
    /// ```
    pub fn load_or_exit(file: Option<&Path>) -> Config {
        Config::load(file).unwrap_or_else(|error| error.exit())
    }

    /// [`load`](Self::load) with an explicit environment instead of the
    /// process's (tests, or a launcher that filters it).
    /// `KUBERNETES_SERVICE_HOST` in it sets the announce delay's default to
    /// 5 s.
    ///
    /// # Errors
    ///
    /// See [`load`](Self::load).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_config::Config;
    ///
    /// let config = Config::load_from(
    ///     None,
    ///     [
    ///         ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
    ///         ("APP__SHUTDOWN__EXEMPT_PATHS", "/healthz, /metrics"),
    ///     ],
    /// )
    /// .unwrap();
    /// assert_eq!(config.shutdown.announce_delay, Duration::from_secs(5));
    /// assert_eq!(config.shutdown.exempt_paths, ["/healthz", "/metrics"]);
    /// ```
    pub fn load_from<I, K, V>(file: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        load_tree(file, env, &[]).map(|(config, _)| config)
    }
}

/// Loads winddown's configuration from `file` and `env`, leaving the
/// application's `app_sections` (checked not to be winddown's) to it: the
/// configuration, and the whole merged tree the application reads them from.
pub(crate) fn load_tree<I, K, V>(
    file: Option<&Path>,
    env: I,
    app_sections: &[&str],
) -> Result<(Config, config::Config), ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    if let Some(taken) = app_sections.iter().find(|s| SECTIONS.contains(s)) {
        return Err(ConfigError::Load(format!(
            "the application's section {} is one of winddown's ({}): name it otherwise",
            shown(taken),
            SECTIONS.join(", ")
        )));
    }
    let mut under_kubernetes = false;
    let mut app_env = HashMap::new();
    // dotted key -> the variable's name, for messages
    let mut env_names = HashMap::new();
    let prefix = env_prefix();
    for (name, value) in env {
        let (name, value): (String, String) = (name.into(), value.into());
        if name == "KUBERNETES_SERVICE_HOST" {
            under_kubernetes = true;
        }
        let Some(key) = env_key(&name)? else {
            continue;
        };
        env_names.insert(key, name.clone());
        app_env.insert(name, value);
    }

    // The one place the Kubernetes announce default is applied.
    let announce_default =
        humantime::format_duration(defaults::announce_delay_for(under_kubernetes)).to_string();
    let mut builder = config::Config::builder()
        .set_default("shutdown.announce_delay", announce_default)
        .map_err(|e| ConfigError::Load(e.to_string()))?;
    if let Some(path) = file {
        builder = builder.add_source(ParsedFile::read(path)?);
    }
    let built = builder
        .add_source(
            Environment::with_prefix(ENV_PREFIX)
                .separator(ENV_SEPARATOR)
                .source(Some(app_env.into_iter().collect())),
        )
        .build()
        .map_err(|error| ConfigError::Load(one_line(&error.to_string())))?;

    let tree = built
        .collect()
        .map_err(|e| ConfigError::Load(one_line(&e.to_string())))?;
    let origin = |key: &str, value: &Value| {
        // A table made from dotted names has no origin: take its first leaf's.
        let (key, value) = first_leaf(key.to_owned(), value);
        match value.origin() {
            None => Origin::Default,
            Some(ENV_ORIGIN) => Origin::Env(env_names.get(&key).cloned().unwrap_or_else(|| {
                format!(
                    "{prefix}{}",
                    key.to_ascii_uppercase().replace('.', ENV_SEPARATOR)
                )
            })),
            Some(other) => Origin::File(file.map_or_else(|| PathBuf::from(other), Path::to_owned)),
        }
    };
    check(&tree, &origin, app_sections)?;

    // winddown's sections alone (its types refuse unknown fields).
    let mut ours = tree;
    ours.retain(|section, _| !app_sections.contains(&section.as_str()));
    let config: Config = Value::new(None, ValueKind::Table(ours))
        .try_deserialize()
        .map_err(|e| ConfigError::Load(one_line(&e.to_string())))?;
    config.check_budget()?;
    Ok((config, built))
}

/// `APP__`: what the name of every variable winddown reads starts with.
fn env_prefix() -> String {
    format!("{ENV_PREFIX}{ENV_SEPARATOR}")
}

/// Whether the variable `name` is one of winddown's (case does not matter).
fn is_ours(name: &str) -> bool {
    name.to_ascii_uppercase().starts_with(&env_prefix())
}

/// The dotted key the variable `name` sets (`APP__SHUTDOWN__DRAIN_TIMEOUT`:
/// `shutdown.drain_timeout`), `None` if it is not one of winddown's, or the
/// error for one that cannot name a key.
fn env_key(name: &str) -> Result<Option<String>, ConfigError> {
    if !is_ours(name) {
        return Ok(None);
    }
    let prefix = env_prefix();
    // The prefix is ASCII, and upper-casing ASCII keeps the length.
    let key = name[prefix.len()..]
        .to_ascii_lowercase()
        .replace(ENV_SEPARATOR, ".");
    let well_formed = key.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    });
    if !well_formed {
        return Err(ConfigError::UnknownKey {
            key,
            value: Raw::A_STRING.to_owned(),
            origin: Origin::Env(name.to_owned()),
            hint: env_hint(),
        });
    }
    Ok(Some(key))
}

fn env_hint() -> String {
    let prefix = env_prefix();
    format!(
        "variables look like {prefix}SECTION{ENV_SEPARATOR}KEY, e.g. {prefix}SHUTDOWN{ENV_SEPARATOR}DRAIN_TIMEOUT"
    )
}

/// The process's variables as text. One of winddown's (`APP__…`) must be
/// UTF-8, name and value: else an error naming it, its value shown lossily
/// (`�` for the bytes that are not UTF-8) and escaped, rather than another
/// value than the one set. Any other variable is passed on if UTF-8
/// (`KUBERNETES_SERVICE_HOST`, whose presence is all that counts, in any
/// case), and left out if not, as nothing reads it.
pub(crate) fn utf8_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut env = Vec::new();
    for (name, value) in vars {
        let value = value
            .into_string()
            .map_err(|value| value.to_string_lossy().into_owned());
        match (name.into_string(), value) {
            (Ok(name), Ok(value)) => env.push((name, value)),
            (Ok(name), Err(lossy)) => match env_key(&name)? {
                Some(key) => return Err(not_utf8(key, lossy, Origin::Env(name))),
                None if name == "KUBERNETES_SERVICE_HOST" => env.push((name, lossy)),
                None => {}
            },
            (Err(name), _) => {
                let name = name.to_string_lossy().into_owned();
                if is_ours(&name) {
                    let key = name[env_prefix().len()..]
                        .to_ascii_lowercase()
                        .replace(ENV_SEPARATOR, ".");
                    return Err(ConfigError::UnknownKey {
                        key,
                        value: Raw::A_STRING.to_owned(),
                        origin: Origin::Env(name),
                        hint: format!("the name is not UTF-8; {}", env_hint()),
                    });
                }
            }
        }
    }
    Ok(env)
}

/// The error for the variable setting `key` to a value that is not UTF-8
/// (`lossy`: as `to_string_lossy` reads it).
fn not_utf8(key: String, lossy: String, origin: Origin) -> ConfigError {
    let raw = Raw::Str(lossy);
    match schema::find(&key) {
        Some(spec) => ConfigError::Invalid {
            value: spec.kind.show(&raw),
            key,
            expected: NOT_UTF8,
            origin,
        },
        None if SECTIONS.contains(&key.as_str()) => ConfigError::Invalid {
            value: raw.to_string(),
            key,
            expected: TABLE,
            origin,
        },
        None => unknown_key(&key, raw.to_string(), origin),
    }
}

/// A configuration file, checked, read (at most [`MAX_FILE_SIZE`]) and
/// parsed before the loader sees it, so every failure names the path and
/// the real cause.
#[derive(Debug, Clone)]
struct ParsedFile(config::Map<String, Value>);

impl ParsedFile {
    fn read(path: &Path) -> Result<ParsedFile, ConfigError> {
        let fail = |message: String| ConfigError::File {
            path: path.to_owned(),
            message,
        };
        // Look before opening: a FIFO or a device is refused without being
        // opened (opening a FIFO waits for a writer).
        let metadata = fs::metadata(path).map_err(|e| {
            fail(match e.kind() {
                std::io::ErrorKind::NotFound => "no such configuration file".to_owned(),
                _ => format!("cannot read it: {e}"),
            })
        })?;
        check_file(&metadata).map_err(fail)?;
        let mut options = OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Should the path become a FIFO after the check, the open must
            // not wait for a writer: the check below refuses it.
            options.custom_flags(libc::O_NONBLOCK);
        }
        let file = options
            .open(path)
            .map_err(|e| fail(format!("cannot read it: {e}")))?;
        // The file opened is the one checked, whatever the path says now.
        let metadata = file
            .metadata()
            .map_err(|e| fail(format!("cannot read it: {e}")))?;
        check_file(&metadata).map_err(fail)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("cannot read it: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(fail(too_large(None)));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            fail(format!(
                "is not UTF-8 text (invalid byte at offset {}); expected a TOML file",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let uri = path.display().to_string();
        FileFormat::Toml
            .parse(Some(&uri), &text)
            .map(ParsedFile)
            .map_err(|cause| fail(one_line(&cause.to_string())))
    }
}

impl Source for ParsedFile {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

/// A regular file of at most [`MAX_FILE_SIZE`] bytes, or what is wrong.
fn check_file(metadata: &fs::Metadata) -> Result<(), String> {
    let kind = metadata.file_type();
    if !kind.is_file() {
        return Err(format!(
            "is {}, not a configuration file; expected a regular TOML file",
            describe(kind)
        ));
    }
    if metadata.len() > MAX_FILE_SIZE {
        return Err(too_large(Some(metadata.len())));
    }
    Ok(())
}

fn too_large(size: Option<u64>) -> String {
    let size = size.map_or_else(|| "larger".to_owned(), |n| format!("{n} bytes,"));
    format!("is {size} over the limit of {MAX_FILE_SIZE} bytes (1 MiB) for a configuration file")
}

/// "a directory", "a FIFO (named pipe)", …
fn describe(kind: FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    "something other than a regular file"
}

/// Every key known, every value acceptable; the first problem in
/// alphabetical order of keys.
fn check(
    tree: &config::Map<String, Value>,
    origin: &dyn Fn(&str, &Value) -> Origin,
    app_sections: &[&str],
) -> Result<(), ConfigError> {
    let sorted: BTreeMap<&String, &Value> = tree.iter().collect();
    for (section, value) in sorted {
        if app_sections.contains(&section.as_str()) {
            continue;
        }
        if !SECTIONS.contains(&section.as_str()) {
            return Err(unknown(section, value, origin));
        }
        let ValueKind::Table(table) = &value.kind else {
            return Err(ConfigError::Invalid {
                key: section.clone(),
                value: Raw::from(value).to_string(),
                expected: TABLE,
                origin: origin(section, value),
            });
        };
        let sorted: BTreeMap<&String, &Value> = table.iter().collect();
        for (name, value) in sorted {
            let key = format!("{section}.{name}");
            let Some(spec) = schema::find(&key) else {
                return Err(unknown(&key, value, origin));
            };
            let raw = Raw::from(value);
            if let Err(expected) = spec.kind.check(&raw) {
                return Err(ConfigError::Invalid {
                    origin: origin(&key, value),
                    key,
                    value: spec.kind.show(&raw),
                    expected,
                });
            }
        }
    }
    Ok(())
}

fn unknown(key: &str, value: &Value, origin: &dyn Fn(&str, &Value) -> Origin) -> ConfigError {
    unknown_key(key, Raw::from(value).kind().to_owned(), origin(key, value))
}

/// `key` is no key of the configuration: the error, with a hint.
fn unknown_key(key: &str, value: String, origin: Origin) -> ConfigError {
    let hint = match suggestion(key) {
        Some(suggestion) => format!("did you mean {suggestion}?"),
        None => {
            let (section, _) = key.split_once('.').unwrap_or((key, ""));
            let in_section: Vec<&str> = KEYS
                .iter()
                .map(|k| k.path)
                .filter(|path| path.split_once('.').is_some_and(|(s, _)| s == section))
                .collect();
            if !key.contains('.') || in_section.is_empty() {
                format!(
                    "known sections: {} (an application loads its own with Config::load_with_app)",
                    SECTIONS.join(", ")
                )
            } else {
                format!("known keys: {}", in_section.join(", "))
            }
        }
    };
    ConfigError::UnknownKey {
        key: key.to_owned(),
        value,
        origin,
        hint,
    }
}

/// The known key or section `key` is most likely a typo of: a close name in
/// the same section, or the same name in another section.
fn suggestion(key: &str) -> Option<&'static str> {
    let close = |typed: &str, known: &str| distance(typed, known) <= (known.len() / 3).max(1);
    let Some((section, name)) = key.split_once('.') else {
        return SECTIONS.iter().copied().find(|known| close(key, known));
    };
    let split = |path: &'static str| path.split_once('.').unwrap_or((path, ""));
    KEYS.iter()
        .map(|k| k.path)
        .filter(|path| split(path).0 == section)
        .min_by_key(|path| distance(name, split(path).1))
        .filter(|path| close(name, split(path).1))
        .or_else(|| {
            KEYS.iter()
                .map(|k| k.path)
                .find(|path| split(path).1 == name)
        })
}

/// The first value with an origin under `value` (itself if it has one).
fn first_leaf(key: String, value: &Value) -> (String, &Value) {
    if value.origin().is_none()
        && let ValueKind::Table(table) = &value.kind
        && let Some((name, child)) = table.iter().min_by(|a, b| a.0.cmp(b.0))
    {
        return first_leaf(format!("{key}.{name}"), child);
    }
    (key, value)
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Error texts from parsers can span lines (TOML shows the line with a
/// caret): keep the position and the reason on one line.
pub(crate) fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('|') && !l.contains(" | "))
        .collect();
    match lines.as_slice() {
        [] => text.trim().to_owned(),
        [only] => (*only).to_owned(),
        [first, .., last] => format!("{first}: {last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein() {
        assert_eq!(
            distance("shutdown.drain_timout", "shutdown.drain_timeout"),
            1
        );
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn multi_line_parser_errors_become_one_line() {
        let toml_error = "TOML parse error at line 2, column 9\n  |\n2 | timeout = \n  |         ^\nstring values must be quoted, expected literal string\n";
        assert_eq!(
            one_line(toml_error),
            "TOML parse error at line 2, column 9: string values must be quoted, expected literal string"
        );
        assert_eq!(one_line("plain"), "plain");
    }
}
