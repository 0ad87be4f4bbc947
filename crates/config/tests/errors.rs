//! Every key with a wrong type, a wrong unit, a negative value, zero where
//! zero makes no sense, and unknown keys: one line each, naming the key, the
//! value, what was expected and where it came from.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::Command;

use winddown_config::{Config, ConfigError};

const DURATION: &str = r#"a duration like "15s" or "250ms""#;
const POSITIVE: &str = r#"a duration greater than zero like "30s" or "500ms""#;
const WHOLE: &str = r#"a whole number of seconds like "5s""#;
const GRACE: &str = r#"a duration greater than zero like "30s", or "" to skip the check"#;
const ADDR: &str = r#"a socket address like "0.0.0.0:8080" or "[::]:8080""#;
const URL: &str = r#"an http:// URL like "http://pushgateway:9091", or "" for off"#;
const URL_PORT: &str = r#"an http:// URL whose port, after the ":", is a number from 1 to 65535 like "http://pushgateway:9091" (leave out the ":" for port 80)"#;
const TEXTFILE: &str = r#"a file path ending in ".prom" like "/var/lib/node_exporter/textfile/app.prom", or "" for off"#;
const PATHS: &str = r#"a list of paths starting with "/" like ["/healthz", "/metrics"] (in the environment: "/healthz,/metrics")"#;
const INSTANCE: &str = r#"a string like "orders-0", or "" to group by job only"#;
const BUDGET: &str = r#"one of "warn", "error", "off""#;
const FORMAT: &str = r#"one of "text", "json""#;

fn env_error(var: &str, value: &str) -> String {
    match Config::load_from(None, [(var, value)]) {
        Ok(config) => panic!("{var}={value:?} was accepted:\n{config}"),
        Err(error) => error.to_string(),
    }
}

fn var(key: &str) -> String {
    format!("APP__{}", key.to_uppercase().replace('.', "__"))
}

/// (key, value, expected) for values set from the environment.
const ENV_CASES: &[(&str, &str, &str)] = &[
    ("server.addr", "localhost:8080", ADDR),
    ("server.addr", "8080", ADDR),
    ("server.addr", "0.0.0.0:99999", ADDR),
    ("server.addr", "", ADDR),
    ("shutdown.timeout", "ten", POSITIVE),
    ("shutdown.timeout", "5 parsecs", POSITIVE),
    ("shutdown.timeout", "-5s", POSITIVE),
    ("shutdown.timeout", "0s", POSITIVE),
    ("shutdown.timeout", "30", POSITIVE),
    ("shutdown.timeout", "", POSITIVE),
    ("shutdown.announce_delay", "soon", DURATION),
    ("shutdown.announce_delay", "5 parsecs", DURATION),
    ("shutdown.announce_delay", "-1s", DURATION),
    ("shutdown.drain_timeout", "ten", DURATION),
    ("shutdown.drain_timeout", "5 parsecs", DURATION),
    ("shutdown.drain_timeout", "-5s", DURATION),
    ("shutdown.drain_timeout", "15", DURATION),
    ("shutdown.hook_timeout", "0ms", POSITIVE),
    ("shutdown.hook_timeout", "-5s", POSITIVE),
    ("shutdown.hook_timeout", "5 parsecs", POSITIVE),
    ("shutdown.retry_after", "250ms", WHOLE),
    ("shutdown.retry_after", "-5s", WHOLE),
    ("shutdown.retry_after", "five", WHOLE),
    ("shutdown.exempt_paths", "healthz", PATHS),
    ("shutdown.exempt_paths", "/healthz,metrics", PATHS),
    ("shutdown.exempt_paths", "/health z", PATHS),
    ("shutdown.kubernetes_grace_period", "0s", GRACE),
    ("shutdown.kubernetes_grace_period", "thirty", GRACE),
    ("shutdown.kubernetes_grace_period", "-30s", GRACE),
    ("shutdown.budget_check", "loud", BUDGET),
    ("shutdown.budget_check", "true", BUDGET),
    ("metrics.linger", "forever", DURATION),
    ("metrics.linger", "-1s", DURATION),
    ("metrics.linger", "5 parsecs", DURATION),
    ("metrics.pushgateway", "pushgateway:9091", URL),
    ("metrics.pushgateway", "https://pushgateway:9091", URL),
    ("metrics.pushgateway", "http://gw:99999", URL_PORT),
    ("metrics.pushgateway", "http://gw:9x91", URL_PORT),
    ("metrics.pushgateway", "http://gw:-1", URL_PORT),
    ("metrics.pushgateway", "http://gw:+80", URL_PORT),
    ("metrics.pushgateway", "http://gw:0", URL_PORT),
    ("metrics.pushgateway", "http://gw:/prefix", URL_PORT),
    ("metrics.pushgateway", "http://[::1]:65536", URL_PORT),
    // A URL with a query: hostile_input.rs (the query is hidden).
    // Fragments too: hostile_input.rs.
    // A URL with credentials, or one that does not parse: see
    // hostile_input.rs (the password is hidden).
    (
        "metrics.textfile",
        "/var/lib/node_exporter/app.txt",
        TEXTFILE,
    ),
    ("metrics.textfile", "/var/lib/node_exporter/", TEXTFILE),
    ("metrics.textfile", ".prom", TEXTFILE),
    ("log.format", "xml", FORMAT),
];

#[test]
fn every_key_with_a_bad_value_from_the_environment() {
    for (key, value, expected) in ENV_CASES {
        let var = var(key);
        assert_eq!(
            env_error(&var, value),
            format!("{key}: expected {expected}, got {value:?} (from {var})"),
            "{var}={value:?}"
        );
    }
}

#[test]
fn every_key_is_covered_by_the_table() {
    let defaults = Config::load_from(None, Vec::<(String, String)>::new())
        .unwrap()
        .to_string();
    let mut section = String::new();
    for line in defaults.lines() {
        if let Some(name) = line.strip_prefix('[') {
            section = name.trim_end_matches(']').to_owned();
        } else if let Some((name, _)) = line.split_once(" = ") {
            let key = format!("{section}.{name}");
            assert!(
                ENV_CASES.iter().any(|(k, ..)| *k == key),
                "no bad-value case for {key}"
            );
        }
    }
}

#[test]
fn wrong_types_in_a_file() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().to_path_buf();
    let file = dir.join("app.toml");
    // (TOML section and line, key, shown value, expected)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("[server]\naddr = 8080", "server.addr", "8080", ADDR),
        (
            "[server]\naddr = [\"0.0.0.0:80\"]",
            "server.addr",
            r#"["0.0.0.0:80"]"#,
            ADDR,
        ),
        (
            "[shutdown]\ntimeout = 30",
            "shutdown.timeout",
            "30",
            POSITIVE,
        ),
        (
            "[shutdown]\ntimeout = 2.5",
            "shutdown.timeout",
            "2.5",
            POSITIVE,
        ),
        (
            "[shutdown]\ntimeout = -5",
            "shutdown.timeout",
            "-5",
            POSITIVE,
        ),
        (
            "[shutdown]\nannounce_delay = true",
            "shutdown.announce_delay",
            "true",
            DURATION,
        ),
        (
            "[shutdown]\ndrain_timeout = { secs = 10 }",
            "shutdown.drain_timeout",
            "{ secs = 10 }",
            DURATION,
        ),
        (
            "[shutdown]\nhook_timeout = 0",
            "shutdown.hook_timeout",
            "0",
            POSITIVE,
        ),
        (
            "[shutdown]\nretry_after = 5",
            "shutdown.retry_after",
            "5",
            WHOLE,
        ),
        (
            "[shutdown]\nexempt_paths = [1, 2]",
            "shutdown.exempt_paths",
            "[1, 2]",
            PATHS,
        ),
        (
            "[shutdown]\nexempt_paths = true",
            "shutdown.exempt_paths",
            "true",
            PATHS,
        ),
        (
            "[shutdown]\nkubernetes_grace_period = 30",
            "shutdown.kubernetes_grace_period",
            "30",
            GRACE,
        ),
        (
            "[shutdown]\nbudget_check = false",
            "shutdown.budget_check",
            "false",
            BUDGET,
        ),
        ("[metrics]\nlinger = 10", "metrics.linger", "10", DURATION),
        (
            "[metrics]\npushgateway = 9091",
            "metrics.pushgateway",
            "9091",
            URL,
        ),
        (
            "[metrics]\npush_instance = 0",
            "metrics.push_instance",
            "0",
            INSTANCE,
        ),
        (
            "[metrics]\ntextfile = false",
            "metrics.textfile",
            "false",
            TEXTFILE,
        ),
        ("[log]\nformat = 1", "log.format", "1", FORMAT),
    ];
    for (toml, key, shown, expected) in cases {
        std::fs::write(&file, toml).unwrap();
        let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{key}: expected {expected}, got {shown} (in {})",
                file.display()
            ),
            "{toml}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_keys_name_the_closest_known_one() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "APP__SHUTDOWN__DRAIN_TIMOUT",
            "10s",
            r#"shutdown.drain_timout: unknown key (from APP__SHUTDOWN__DRAIN_TIMOUT); did you mean shutdown.drain_timeout?"#,
        ),
        (
            "APP__SHUTDOWN__LINGER",
            "5s",
            r#"shutdown.linger: unknown key (from APP__SHUTDOWN__LINGER); did you mean metrics.linger?"#,
        ),
        (
            "APP__SERVR__ADDR",
            "0.0.0.0:80",
            r#"servr: unknown key (from APP__SERVR__ADDR); did you mean server?"#,
        ),
        (
            "APP__SHUTDOWN__COLOUR",
            "blue",
            r#"shutdown.colour: unknown key (from APP__SHUTDOWN__COLOUR); known keys: shutdown.timeout, shutdown.announce_delay, shutdown.drain_timeout, shutdown.hook_timeout, shutdown.retry_after, shutdown.exempt_paths, shutdown.kubernetes_grace_period, shutdown.budget_check"#,
        ),
        (
            "APP__FOO",
            "1",
            r#"foo: unknown key (from APP__FOO); known sections: server, shutdown, metrics, log (an application loads its own with Config::load_with_app)"#,
        ),
        (
            "APP__SHUTDOWN__DRAIN-TIMEOUT",
            "10s",
            r#"shutdown.drain-timeout: unknown key (from APP__SHUTDOWN__DRAIN-TIMEOUT); variables look like APP__SECTION__KEY, e.g. APP__SHUTDOWN__DRAIN_TIMEOUT"#,
        ),
        (
            "APP__SHUTDOWN",
            "fast",
            r#"shutdown: expected a table of keys (a [section] in the file), got "fast" (from APP__SHUTDOWN)"#,
        ),
    ];
    for (var, value, message) in cases {
        assert_eq!(env_error(var, value), *message, "{var}={value}");
    }
}

#[test]
fn unknown_keys_in_a_file() {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(&file, "[shutdown]\ndrain_timout = \"10s\"\n").unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            r#"shutdown.drain_timout: unknown key (in {}); did you mean shutdown.drain_timeout?"#,
            file.display()
        )
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_missing_or_broken_file() {
    let missing = PathBuf::from("/nonexistent/winddown/app.toml");
    let err = Config::load_from(Some(&missing), Vec::<(String, String)>::new()).unwrap_err();
    assert_eq!(
        err,
        ConfigError::File {
            path: missing.clone(),
            message: "no such configuration file".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "/nonexistent/winddown/app.toml: no such configuration file"
    );

    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(&file, "[shutdown]\ntimeout = \n").unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    let message = err.to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(
        message.starts_with(&format!(
            "{}: TOML parse error at line 2, column 11: ",
            file.display()
        )),
        "{message}"
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn messages_are_one_line() {
    for (key, value, _) in ENV_CASES {
        let message = env_error(&var(key), value);
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn a_pushgateway_port_that_is_no_port_is_refused_not_replaced_by_80() {
    // `http::Uri` takes these, with no port: the push would go to port 80.
    let var = "APP__METRICS__PUSHGATEWAY";
    for url in ["http://gw:99999", "http://gw:9x91", "http://gw:-1"] {
        assert_eq!(
            env_error(var, url),
            format!(r#"metrics.pushgateway: expected {URL_PORT}, got {url:?} (from {var})"#)
        );
    }
    // The same from a file.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(
        &file,
        "[metrics]\npushgateway = \"http://gw:99999/prefix\"\n",
    )
    .unwrap();
    let err = Config::load_from(Some(&file), Vec::<(String, String)>::new()).unwrap_err();
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            r#"metrics.pushgateway: expected {URL_PORT}, got "http://gw:99999/prefix" (in {})"#,
            file.display()
        )
    );
    // Real ports, or none (80), are taken as written.
    for url in [
        "http://gw",
        "http://gw:1",
        "http://gw:9091/prefix",
        "http://gw:09091",
        "http://gw:65535",
        "http://[::1]:9091",
        "http://[::1]",
    ] {
        let config = Config::load_from(None, [(var, url)]).unwrap();
        assert_eq!(config.metrics.pushgateway.as_deref(), Some(url));
    }
}

// ----- the process's environment, which may hold any bytes -----

/// Set in the child process that loads its own environment.
const CHILD: &str = "WINDDOWN_CONFIG_TEST_CHILD";

/// Only does something in a child process started by [`load_in_child`]:
/// loads the configuration from the process's environment and prints the
/// outcome.
#[test]
fn child_loads_its_own_environment() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    match Config::load(None) {
        Ok(config) => println!(
            "RESULT ok textfile={:?} announce_delay={:?}",
            config.metrics.textfile, config.shutdown.announce_delay
        ),
        Err(err) => println!("RESULT err {err}"),
    }
}

/// [`Config::load`] in a child process whose environment is `vars` only
/// (names and values any bytes): the line it printed.
fn load_in_child(vars: &[(&[u8], &[u8])]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_loads_its_own_environment",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env(CHILD, "1");
    for (name, value) in vars {
        command.env(
            OsString::from_vec(name.to_vec()),
            OsString::from_vec(value.to_vec()),
        );
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "the child failed: {stdout}");
    stdout
        .lines()
        .find_map(|l| l.split_once("RESULT ").map(|(_, result)| result))
        .unwrap_or_else(|| panic!("no result: {stdout}"))
        .to_owned()
}

#[test]
fn a_non_utf8_environment_value_is_an_error_naming_the_key() {
    const NOT_UTF8: &str =
        "UTF-8 text (the bytes of this value that are not UTF-8 are shown as \"\u{fffd}\")";
    // Never another path than the one set.
    assert_eq!(
        load_in_child(&[(b"APP__METRICS__TEXTFILE", b"/tmp/node\xffexporter\n.prom")]),
        format!(
            "err metrics.textfile: expected {NOT_UTF8}, got \"/tmp/node\u{fffd}exporter\\n.prom\" (from APP__METRICS__TEXTFILE)"
        )
    );
    // A URL: no password in the message, whatever its bytes.
    let result = load_in_child(&[(
        b"app__metrics__pushgateway",
        b"http://ops:hunter\xff2@gw:9091",
    )]);
    assert_eq!(
        result,
        format!(
            r#"err metrics.pushgateway: expected {NOT_UTF8}, got "http://***" (from app__metrics__pushgateway)"#
        )
    );
    // An unknown key is named as such.
    assert_eq!(
        load_in_child(&[(b"APP__SHUTDOWN__DRAIN_TIMOUT", b"10\xc3s")]),
        "err shutdown.drain_timout: unknown key (from APP__SHUTDOWN__DRAIN_TIMOUT); did you mean shutdown.drain_timeout?"
    );
    // Variables that are not winddown's may hold any bytes; the presence of
    // KUBERNETES_SERVICE_HOST still counts.
    assert_eq!(
        load_in_child(&[
            (b"OTHER", b"\xff"),
            (b"KUBERNETES_SERVICE_HOST", b"\xff"),
            (b"APP__METRICS__TEXTFILE", b"/tmp/node.prom"),
        ]),
        r#"ok textfile=Some("/tmp/node.prom") announce_delay=5s"#
    );
}

#[test]
fn a_non_utf8_environment_name_with_the_prefix_is_an_unknown_key() {
    assert_eq!(
        load_in_child(&[(b"APP__METRICS__TEXT\xffFILE", b"/tmp/node.prom")]),
        "err metrics.text\u{fffd}file: unknown key (from APP__METRICS__TEXT\u{fffd}FILE); the name is not UTF-8; variables look like APP__SECTION__KEY, e.g. APP__SHUTDOWN__DRAIN_TIMEOUT"
    );
    // Other names may hold any bytes.
    assert_eq!(
        load_in_child(&[(b"OTHER_\xff", b"x"), (b"APP\xff", b"x")]),
        "ok textfile=None announce_delay=0ns"
    );
}
