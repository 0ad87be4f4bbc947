//! Hostile or careless input: every duration key refuses values over
//! `MAX_DURATION` (24 h) with a message naming the key, the value and the
//! maximum; no value of the public fields makes the budget check panic;
//! passwords never reach a message; control characters in names and values
//! are escaped.

use std::time::Duration;

use winddown_config::{BudgetProblem, Config, ConfigError, MAX_DURATION};

const OVER_MAX: &str = r#"a duration of at most "24h" (the longest any winddown duration may be)"#;

const DURATION_KEYS: &[&str] = &[
    "shutdown.timeout",
    "shutdown.announce_delay",
    "shutdown.drain_timeout",
    "shutdown.hook_timeout",
    "shutdown.retry_after",
    "shutdown.kubernetes_grace_period",
    "metrics.linger",
];

fn var(key: &str) -> String {
    format!("APP__{}", key.to_uppercase().replace('.', "__"))
}

#[test]
fn durations_over_a_day_are_refused_naming_key_value_and_maximum() {
    let too_long = [
        "18446744073709551615s",
        "9223372036854775807s",
        "300000000000y",
        "25h",
        "86401s",
        "2days",
    ];
    for key in DURATION_KEYS {
        let var = var(key);
        for value in too_long {
            let err = Config::load_from(None, [(var.as_str(), value)]).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{var}={value}");
            assert_eq!(
                err.to_string(),
                format!("{key}: expected {OVER_MAX}, got {value:?} (from {var})"),
            );
        }
        // The maximum itself is taken.
        let config = Config::load_from(None, [(var.as_str(), "24h")]).unwrap();
        assert!(config.to_string().contains("= \"1day\""), "{config}");
    }
}

#[test]
fn a_too_long_duration_in_a_file_names_the_file() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(&file, "[metrics]\nlinger = \"100000h\"\n").unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            r#"metrics.linger: expected {OVER_MAX}, got "100000h" (in {})"#,
            file.display()
        )
    );
}

#[test]
fn the_budget_check_saturates_instead_of_panicking() {
    let mut config =
        Config::load_from(None, [("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", "30s")]).unwrap();
    config.shutdown.announce_delay = Duration::MAX;
    config.shutdown.drain_timeout = Duration::MAX;
    config.shutdown.hook_timeout = Duration::MAX;
    config.shutdown.timeout = Duration::MAX;
    config.metrics.linger = Duration::MAX;
    for hooks in [0, 1, usize::MAX] {
        let problems = config.budget_problems(hooks);
        // The deadline is Duration::MAX too: the sum saturates at it and fits.
        assert!(
            matches!(problems[..], [BudgetProblem::OverGracePeriod { needed, .. }] if needed == Duration::MAX),
            "{problems:?}"
        );
        assert!(problems[0].to_string().starts_with("shutdown budget: "));
    }
    config.shutdown.timeout = MAX_DURATION;
    let problems = config.budget_problems(usize::MAX);
    assert!(
        matches!(problems[0], BudgetProblem::OverTimeout { needed, .. } if needed == Duration::MAX),
        "{problems:?}"
    );
    assert!(!problems[0].to_string().is_empty());
}

const CREDENTIALS: &str = r#"an http:// URL without user or password like "http://pushgateway:9091" (credentials in the URL are not supported: the push sends no Authorization header; put a proxy that adds it in front of the gateway)"#;
const UNPARSED: &str = r#"an http:// URL like "http://pushgateway:9091", or "" for off (this value does not parse as a URL, so only its scheme is shown: it may hold a password)"#;

#[test]
fn a_pushgateway_password_never_reaches_a_message() {
    let var = "APP__METRICS__PUSHGATEWAY";
    let cases = [
        ("http://user:s3cret@gw:9091", r#""http://***@gw:9091""#),
        (
            "http://s3cret@gw:9091/prefix",
            r#""http://***@gw:9091/prefix""#,
        ),
        ("http://user:s3c@ret@gw:9091", r#""http://***@gw:9091""#),
        ("user:s3cret@gw:9091", r#""***@gw:9091""#),
        ("https://user:s3cret@gw:9091", r#""https://***@gw:9091""#),
    ];
    for (value, shown) in cases {
        let err = Config::load_from(None, [(var, value)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("metrics.pushgateway: expected {CREDENTIALS}, got {shown} (from {var})")
        );
        assert!(!format!("{err:?}").contains("s3c"), "{err:?}");
    }
    // A misspelt key does not know it holds a URL: still hidden.
    let err =
        Config::load_from(None, [("APP__METRICS__PUSHGATEWY", "http://u:s3cret@gw")]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            r#"metrics.pushgatewy: unknown key (from APP__METRICS__PUSHGATEWY); did you mean metrics.pushgateway?"#
        ),
        "{err}"
    );
    // And in a file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    std::fs::write(
        &file,
        "[metrics]\npushgateway = \"http://ops:s3cret@gw:9091\"\n",
    )
    .unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            r#"metrics.pushgateway: expected {CREDENTIALS}, got "http://***@gw:9091" (in {})"#,
            file.display()
        )
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_pushgateway_password_holding_a_reserved_character_never_reaches_a_message() {
    let var = "APP__METRICS__PUSHGATEWAY";
    // `http::Uri` ends the authority at `/`, `?` or `#`: it takes these for
    // the host `ops` with the password in the path, query or fragment.
    for url in [
        "http://ops:hunter/2@gw:9091",
        "http://ops:hunter?2@gw:9091",
        "http://ops:hunter#2@gw:9091",
    ] {
        let err = Config::load_from(None, [(var, url)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                r#"metrics.pushgateway: expected {CREDENTIALS}, got "http://***@gw:9091" (from {var})"#
            )
        );
        assert!(!format!("{err:?}").contains("hunter"), "{err:?}");
    }
    // A URL that does not parse (a space, a tab, no scheme) shows its
    // scheme only.
    for (url, shown) in [
        ("http://ops:hunter 2@gw:9091", "http://***"),
        ("http://ops:hunter\t2@gw:9091", "http://***"),
        ("http://ops:hunter\u{a0}2@gw:9091", "http://***"),
        ("ops:hunter/2@gw:9091", "***"),
        ("http://", "http://***"),
        ("not a url", "***"),
    ] {
        let err = Config::load_from(None, [(var, url)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(r#"metrics.pushgateway: expected {UNPARSED}, got "{shown}" (from {var})"#)
        );
        assert!(!format!("{err:?}").contains("hunter"), "{err:?}");
    }
    // A misspelt key does not know it holds a URL: the whole value is one
    // URL, hidden up to its last `@`.
    let err = Config::load_from(
        None,
        [("APP__METRICS__PUSHGATEWY", "http://ops:hunter 2@gw")],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"metrics.pushgatewy: unknown key (from APP__METRICS__PUSHGATEWY)"#),
        "{err}"
    );
    // In a file, and through the serde glue of an embedding application.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(
        &file,
        "[metrics]\npushgateway = \"http://ops:hunter#2@gw:9091\"\n",
    )
    .unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert!(!format!("{err} {err:?}").contains("hunter"), "{err:?}");
    let embedded = config::Config::builder()
        .set_override("pushgateway", "http://ops:hunter 2@gw:9091")
        .unwrap()
        .build()
        .unwrap()
        .try_deserialize::<winddown_config::MetricsConfig>()
        .unwrap_err()
        .to_string();
    assert!(!embedded.contains("hunter"), "{embedded}");
    assert!(embedded.contains(r#"got "http://***""#), "{embedded}");
}

#[test]
fn a_password_set_by_hand_is_hidden_by_display_and_debug() {
    let mut config = Config::default();
    config.metrics.pushgateway = Some("http://ops:hunter 2@gw:9091".to_owned());
    for shown in [
        config.to_string(),
        format!("{config:?}"),
        format!("{:?}", config.metrics),
    ] {
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("http://***@gw:9091"), "{shown}");
    }
}

#[test]
fn control_characters_in_inline_table_keys_are_escaped() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(
        &file,
        "[shutdown]\ntimeout = { \"x\\n2030-01-01T00:00:00Z ERROR forged\\u001b[31m\" = 1, \"http://u:s3cret@gw\" = 2, plain = 3 }\n",
    )
    .unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    std::fs::remove_file(&file).unwrap();
    let message = err.to_string();
    assert!(!message.contains(['\n', '\u{1b}']), "{message:?}");
    assert!(!message.contains("s3cret"), "{message}");
    assert!(
        message.contains(
            r#"got { "http://***@gw" = 2, plain = 3, "x\n2030-01-01T00:00:00Z ERROR forged\u{1b}[31m" = 1 }"#
        ),
        "{message}"
    );
}

#[test]
fn control_characters_in_names_and_values_are_escaped() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(
        &file,
        "[shutdown]\n\"x\\nINFO forged\\u001b[31m\" = \"a\\rb\"\n",
    )
    .unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    let message = err.to_string();
    assert!(!message.contains(['\n', '\r', '\u{1b}']), "{message:?}");
    assert!(
        message.starts_with(r#"shutdown.x\nINFO forged\u{1b}[31m: unknown key (in "#),
        "{message}"
    );
    std::fs::remove_file(&file).unwrap();

    let err = Config::load_from(None, [("APP__SHUTDOWN__X\nY", "1\u{1b}[0m")]).unwrap_err();
    let message = err.to_string();
    assert!(!message.contains(['\n', '\u{1b}']), "{message:?}");
    assert!(message.contains(r"(from APP__SHUTDOWN__X\nY)"), "{message}");
}

/// An unknown key may be a secret the service reads on its own: the message
/// names the key and where it came from, never the value.
#[test]
fn an_unknown_key_never_shows_its_value() {
    for (name, value) in [
        ("APP__DATABASE__PASSWORD", "hunter2"),
        ("APP__METRICS__TOKEN", "hunter2"),
    ] {
        let err = Config::load_from(None, [(name, value)]).unwrap_err();
        let message = err.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        assert!(
            message.contains(&format!("unknown key (from {name})")),
            "{message}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    std::fs::write(&file, "[database]\npassword = \"hunter2\"\n").unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    assert!(
        err.to_string().starts_with("database: unknown key (in "),
        "{err}"
    );
}

/// A Pushgateway URL with a query string (where a token may be) is refused
/// without showing the query.
#[test]
fn a_pushgateway_query_never_reaches_a_message() {
    let err = Config::load_from(
        None,
        [("APP__METRICS__PUSHGATEWAY", "http://gw:9091/?token=s3cret")],
    )
    .unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(!format!("{err:?}").contains("s3cret"), "{err:?}");
    assert!(
        err.to_string().ends_with(
            r##"expected an http:// URL without a query ("?…") or fragment ("#…") like "http://pushgateway:9091", or "" for off, got "http://gw:9091/?***" (from APP__METRICS__PUSHGATEWAY)"##
        ),
        "{err}"
    );
}

/// An application's own sections: a value that does not fit its type is
/// named by key and kind, never shown (a DSN with a password landing in the
/// wrong variable).
#[test]
fn an_application_value_that_does_not_fit_is_never_shown() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct App {
        database: Database,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Database {
        url: String,
        #[serde(default)]
        pool_size: Option<u32>,
    }
    let dsn = "postgres://orders:correct hunter2 staple@db/orders";
    for (env, expected) in [
        (
            vec![("APP__DATABASE", dsn)],
            r#"invalid type: string "***", expected struct Database"#,
        ),
        (
            vec![
                ("APP__DATABASE__URL", "db"),
                ("APP__DATABASE__POOL_SIZE", dsn),
            ],
            "database.pool_size: expected an integer, got a string",
        ),
    ] {
        let error = Config::load_from_with_app::<App, _, _, _>(None, env, &["database"])
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains(expected), "{error}");
    }
}
