//! Defaults, layering (file, then environment), conversions and the budget
//! check. The environment is passed explicitly, so tests never touch the
//! process's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use winddown_config::{BudgetCheck, BudgetProblem, Config, ConfigError, LogFormat, ShutdownConfig};
use winddown_testkit::LogCapture;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// A configuration file in a temporary directory of its own (removed with
/// it): no other test, and no other run, can write or read it.
struct TempFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, contents).unwrap();
        TempFile { _dir: dir, path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

const DEFAULTS: &str = r#"[server]
addr = "0.0.0.0:8080"

[shutdown]
timeout = "30s"
announce_delay = "0s"
drain_timeout = "15s"
hook_timeout = "5s"
retry_after = "5s"
exempt_paths = ["/healthz", "/readyz", "/metrics"]
kubernetes_grace_period = ""
budget_check = "warn"

[metrics]
linger = "0s"
pushgateway = ""
textfile = ""

[log]
format = "text""#;

#[test]
fn defaults_are_the_documented_ones() {
    let config = Config::load_from(None, no_env()).unwrap();
    assert_eq!(config.to_string(), DEFAULTS);
    let s = &config.shutdown;
    assert_eq!(config.server.addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(s.timeout, Duration::from_secs(30));
    assert_eq!(s.announce_delay, Duration::ZERO);
    assert_eq!(s.drain_timeout, Duration::from_secs(15));
    assert_eq!(s.hook_timeout, Duration::from_secs(5));
    assert_eq!(s.retry_after, Duration::from_secs(5));
    assert_eq!(s.exempt_paths, ["/healthz", "/readyz", "/metrics"]);
    assert_eq!(s.kubernetes_grace_period, None);
    assert_eq!(s.budget_check, BudgetCheck::Warn);
    assert_eq!(config.metrics.linger, Duration::ZERO);
    assert_eq!(config.metrics.pushgateway, None);
    assert_eq!(config.metrics.push_instance, None);
    assert_eq!(config.metrics.textfile, None);
    assert_eq!(config.log.format, LogFormat::Text);
}

#[test]
fn the_printed_defaults_load_back_as_a_file() {
    let file = TempFile::new("roundtrip", DEFAULTS);
    let from_file = Config::load_from(Some(file.path()), no_env()).unwrap();
    assert_eq!(from_file, Config::load_from(None, no_env()).unwrap());
}

#[test]
fn kubernetes_announces_for_five_seconds_unless_told() {
    let k8s = [("KUBERNETES_SERVICE_HOST", "10.96.0.1")];
    let config = Config::load_from(None, k8s).unwrap();
    assert_eq!(config.shutdown.announce_delay, Duration::from_secs(5));

    let told = Config::load_from(
        None,
        [
            ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
            ("APP__SHUTDOWN__ANNOUNCE_DELAY", "0s"),
        ],
    )
    .unwrap();
    assert_eq!(told.shutdown.announce_delay, Duration::ZERO);

    // A file value beats the default too.
    let file = TempFile::new("k8s", "[shutdown]\nannounce_delay = \"2s\"\n");
    let config = Config::load_from(Some(file.path()), k8s).unwrap();
    assert_eq!(config.shutdown.announce_delay, Duration::from_secs(2));
}

#[test]
fn the_environment_overrides_the_file_which_overrides_the_defaults() {
    let file = TempFile::new(
        "layers",
        r#"
[server]
addr = "127.0.0.1:9000"

[shutdown]
drain_timeout = "20s"
hook_timeout = "2s"
exempt_paths = ["/live", "/ready"]

[metrics]
pushgateway = "http://pushgateway:9091"
textfile = "/var/lib/node_exporter/orders.prom"
linger = "10s"
"#,
    );
    let env = [
        ("APP__SHUTDOWN__DRAIN_TIMEOUT", "10s"),
        ("APP__SHUTDOWN__EXEMPT_PATHS", "/healthz, /metrics,"),
        ("APP__METRICS__PUSHGATEWAY", ""),
        ("app__log__format", "json"),
        // Not ours: ignored.
        ("PATH", "/usr/bin"),
        ("APP_SHUTDOWN_TIMEOUT", "1s"),
        ("APPLE", "1"),
    ];
    let config = Config::load_from(Some(file.path()), env).unwrap();
    // environment
    assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(10));
    assert_eq!(config.shutdown.exempt_paths, ["/healthz", "/metrics"]);
    assert_eq!(
        config.metrics.pushgateway, None,
        "an empty value turns it off"
    );
    assert_eq!(config.log.format, LogFormat::Json);
    // file
    assert_eq!(config.server.addr, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(config.shutdown.hook_timeout, Duration::from_secs(2));
    assert_eq!(
        config.metrics.textfile,
        Some(PathBuf::from("/var/lib/node_exporter/orders.prom"))
    );
    assert_eq!(config.metrics.linger, Duration::from_secs(10));
    // defaults
    assert_eq!(config.shutdown.timeout, Duration::from_secs(30));
    assert_eq!(config.shutdown.retry_after, Duration::from_secs(5));
}

#[test]
fn human_durations_and_other_accepted_forms() {
    let config = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__TIMEOUT", "1m 30s"),
            ("APP__SHUTDOWN__HOOK_TIMEOUT", "250ms"),
            ("APP__SHUTDOWN__DRAIN_TIMEOUT", "0s"),
            ("APP__SHUTDOWN__RETRY_AFTER", "0s"),
            ("APP__SHUTDOWN__EXEMPT_PATHS", ""),
            ("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", "2m"),
            ("APP__SERVER__ADDR", "[::1]:8080"),
            ("APP__METRICS__PUSHGATEWAY", "http://10.0.0.5:9091/prefix"),
            ("APP__METRICS__PUSH_INSTANCE", ""),
        ],
    )
    .unwrap();
    assert_eq!(config.shutdown.timeout, Duration::from_secs(90));
    assert_eq!(config.shutdown.hook_timeout, Duration::from_millis(250));
    assert_eq!(config.shutdown.drain_timeout, Duration::ZERO);
    assert_eq!(config.shutdown.retry_after, Duration::ZERO);
    assert!(config.shutdown.exempt_paths.is_empty());
    assert_eq!(
        config.shutdown.kubernetes_grace_period,
        Some(Duration::from_secs(120))
    );
    assert_eq!(config.server.addr, "[::1]:8080".parse().unwrap());
    assert_eq!(
        config.metrics.pushgateway.as_deref(),
        Some("http://10.0.0.5:9091/prefix")
    );
    assert_eq!(config.metrics.push_instance.as_deref(), Some(""));
}

#[test]
fn the_shutdown_part_configures_the_core() {
    let config = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__TIMEOUT", "20s"),
            ("APP__SHUTDOWN__ANNOUNCE_DELAY", "3s"),
            ("APP__SHUTDOWN__DRAIN_TIMEOUT", "8s"),
            ("APP__SHUTDOWN__HOOK_TIMEOUT", "1500ms"),
        ],
    )
    .unwrap();
    let settings = config
        .shutdown
        .builder()
        .no_signals()
        .build()
        .settings()
        .clone();
    assert_eq!(settings.timeout, Duration::from_secs(20));
    assert_eq!(settings.announce_delay, Duration::from_secs(3));
    assert_eq!(settings.drain_timeout, Duration::from_secs(8));
    assert_eq!(settings.hook_timeout, Duration::from_millis(1500));

    let from: winddown_core::ShutdownBuilder = (&config.shutdown).into();
    assert_eq!(
        from.no_signals().build().settings().timeout,
        Duration::from_secs(20)
    );
}

#[test]
fn the_serde_tree_gives_the_same_messages_when_embedded() {
    // Another loader deserialising the same tree gets the same words.
    let tree = config::Config::builder()
        .add_source(config::File::from_str(
            "[shutdown]\ndrain_timeout = \"ten\"\n",
            config::FileFormat::Toml,
        ))
        .build()
        .unwrap();
    let err = tree.try_deserialize::<Config>().unwrap_err().to_string();
    assert!(
        err.contains(r#"expected a duration like "15s" or "250ms", got "ten""#),
        "{err}"
    );
    let shutdown: ShutdownConfig = config::Config::builder()
        .add_source(config::File::from_str(
            "timeout = \"45s\"",
            config::FileFormat::Toml,
        ))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    assert_eq!(shutdown.timeout, Duration::from_secs(45));
}

// ----- budget -----

#[test]
fn the_sequence_must_fit_in_the_deadline() {
    let config = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__TIMEOUT", "20s"),
            ("APP__SHUTDOWN__ANNOUNCE_DELAY", "5s"),
            ("APP__SHUTDOWN__DRAIN_TIMEOUT", "15s"),
            ("APP__SHUTDOWN__BUDGET_CHECK", "off"),
        ],
    )
    .unwrap();
    let problems = config.budget_problems(2);
    assert_eq!(
        problems,
        [BudgetProblem::OverTimeout {
            announce_delay: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(15),
            hook_timeout: Duration::from_secs(5),
            hooks: 2,
            needed: Duration::from_secs(30),
            timeout: Duration::from_secs(20),
        }]
    );
    assert_eq!(
        problems[0].to_string(),
        "shutdown budget: shutdown.announce_delay 5s + shutdown.drain_timeout 15s + 2 × \
         shutdown.hook_timeout 5s = 30s does not fit in shutdown.timeout 20s: the last hooks would \
         be cut; raise the timeout or lower the others"
    );
    // Exactly fitting is fine.
    let fits = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__TIMEOUT", "25s"),
            ("APP__SHUTDOWN__ANNOUNCE_DELAY", "5s"),
            ("APP__SHUTDOWN__DRAIN_TIMEOUT", "15s"),
        ],
    )
    .unwrap();
    assert!(fits.budget_problems(1).is_empty());
    assert_eq!(fits.budget_problems(2).len(), 1);
}

#[test]
fn the_deadline_and_linger_must_fit_in_the_grace_period() {
    let env = |grace: &'static str| {
        [
            ("APP__SHUTDOWN__TIMEOUT", "25s"),
            ("APP__METRICS__LINGER", "3s"),
            ("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", grace),
            ("APP__SHUTDOWN__BUDGET_CHECK", "off"),
        ]
    };
    assert!(
        Config::load_from(None, env("30s"))
            .unwrap()
            .budget_problems(1)
            .is_empty()
    );
    let config = Config::load_from(None, env("29s")).unwrap();
    assert_eq!(
        config.budget_problems(1),
        [BudgetProblem::OverGracePeriod {
            timeout: Duration::from_secs(25),
            linger: Duration::from_secs(3),
            push_timeout: None,
            margin: Duration::from_secs(2),
            needed: Duration::from_secs(30),
            grace_period: Duration::from_secs(29),
        }]
    );
}

#[test]
fn the_pushgateway_push_counts_in_the_grace_period_when_longer_than_the_linger() {
    let load = |linger: &'static str, grace: &'static str| {
        Config::load_from(
            None,
            [
                ("APP__SHUTDOWN__TIMEOUT", "25s"),
                ("APP__METRICS__LINGER", linger),
                ("APP__METRICS__PUSHGATEWAY", "http://127.0.0.1:9091"),
                ("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", grace),
                ("APP__SHUTDOWN__BUDGET_CHECK", "off"),
            ],
        )
        .unwrap()
    };
    // No linger: the push's 3 s bound counts. 25s + 3s + 2s = 30s.
    assert!(load("0s", "30s").budget_problems(1).is_empty());
    let config = load("0s", "29s");
    assert_eq!(
        config.budget_problems(1),
        [BudgetProblem::OverGracePeriod {
            timeout: Duration::from_secs(25),
            linger: Duration::ZERO,
            push_timeout: Some(Duration::from_secs(3)),
            margin: Duration::from_secs(2),
            needed: Duration::from_secs(30),
            grace_period: Duration::from_secs(29),
        }]
    );
    assert_eq!(
        config.budget_problems(1)[0].to_string(),
        "shutdown budget: shutdown.timeout 25s + max(metrics.linger 0s, Pushgateway push timeout \
         3s) + margin 2s = 30s does not fit in shutdown.kubernetes_grace_period 29s: SIGKILL would \
         cut the shutdown short; raise the grace period or lower the timeout"
    );
    // A longer linger: it counts, the push runs within it. 25s + 4s + 2s.
    assert!(load("4s", "31s").budget_problems(1).is_empty());
    let problems = load("4s", "30s").budget_problems(1);
    assert!(
        matches!(
            problems[..],
            [BudgetProblem::OverGracePeriod { needed, push_timeout: Some(_), .. }]
                if needed == Duration::from_secs(31)
        ),
        "{problems:?}"
    );
    // With `budget_check = "error"`, loading refuses it.
    let err = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__TIMEOUT", "25s"),
            ("APP__METRICS__PUSHGATEWAY", "http://127.0.0.1:9091"),
            ("APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD", "29s"),
            ("APP__SHUTDOWN__BUDGET_CHECK", "error"),
        ],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("max(metrics.linger 0s, Pushgateway push timeout 3s)"),
        "{err}"
    );
}

#[test]
fn budget_check_error_refuses_the_configuration() {
    let err = Config::load_from(
        None,
        [
            ("APP__SHUTDOWN__TIMEOUT", "10s"),
            ("APP__SHUTDOWN__BUDGET_CHECK", "error"),
        ],
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Budget(BudgetProblem::OverTimeout { .. })
    ));
    assert_eq!(
        err.to_string(),
        "shutdown budget: shutdown.announce_delay 0s + shutdown.drain_timeout 15s + 1 × \
         shutdown.hook_timeout 5s = 20s does not fit in shutdown.timeout 10s: the last hooks would \
         be cut; raise the timeout or lower the others"
    );
}

fn logged_while(f: impl FnOnce()) -> String {
    let logs = LogCapture::default();
    tracing::subscriber::with_default(logs.subscriber(), f);
    logs.text()
}

#[test]
fn budget_check_warn_logs_and_off_is_silent() {
    let env = |check: &'static str| {
        [
            ("APP__SHUTDOWN__TIMEOUT", "10s"),
            ("APP__SHUTDOWN__BUDGET_CHECK", check),
        ]
    };
    let logs = logged_while(|| {
        let config = Config::load_from(None, env("warn")).unwrap();
        assert_eq!(config.shutdown.timeout, Duration::from_secs(10));
    });
    assert_eq!(
        logs.trim(),
        "WARN winddown: shutdown budget: shutdown.announce_delay 0s + shutdown.drain_timeout 15s + \
         1 × shutdown.hook_timeout 5s = 20s does not fit in shutdown.timeout 10s: the last hooks \
         would be cut; raise the timeout or lower the others"
    );
    let logs = logged_while(|| {
        Config::load_from(None, env("off")).unwrap();
    });
    assert_eq!(logs, "");
    // The defaults fit: nothing is logged.
    let logs = logged_while(|| {
        Config::load_from(None, no_env()).unwrap();
    });
    assert_eq!(logs, "");
}

/// The application's own sections load from the same file and environment
/// as winddown's; winddown's keys keep their checks, and any other section
/// is still an unknown key.
#[test]
fn the_application_reads_its_own_sections_beside_winddowns() {
    #[derive(Debug, serde::Deserialize)]
    struct App {
        database: Database,
        jobs: Jobs,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Database {
        url: String,
        pool_size: u32,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Jobs {
        queues: Vec<String>,
    }

    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(
        &file,
        "[shutdown]\ndrain_timeout = \"20s\"\n\n[database]\nurl = \"postgres://db/orders\"\npool_size = 8\n\n[jobs]\nqueues = [\"mail\", \"billing\"]\n",
    )
    .unwrap();
    let load = |env: &[(&str, &str)]| {
        Config::load_from_with_app::<App, _, _, _>(
            Some(&file),
            env.iter().copied(),
            &["database", "jobs"],
        )
    };
    let (config, app) = load(&[("APP__DATABASE__POOL_SIZE", "16")]).unwrap();
    assert_eq!(config.shutdown.drain_timeout, Duration::from_secs(20));
    assert_eq!(app.database.url, "postgres://db/orders");
    assert_eq!(app.database.pool_size, 16, "the environment over the file");
    assert_eq!(app.jobs.queues, ["mail", "billing"]);

    // winddown's own keys are still checked...
    let error = load(&[("APP__SHUTDOWN__DRAIN_TIMOUT", "5s")]).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("shutdown.drain_timout: unknown key"),
        "{error}"
    );
    // ...and sections nobody named are still unknown.
    let error = load(&[("APP__CACHE__TOKEN", "s3cret")]).unwrap_err();
    assert!(
        error.to_string().starts_with("cache: unknown key"),
        "{error}"
    );
    assert!(!error.to_string().contains("s3cret"), "{error}");
    // The application's own mistakes are named as its own.
    let error = load(&[("APP__DATABASE__POOL_SIZE", "many")]).unwrap_err();
    assert!(
        error.to_string().starts_with(
            "cannot load the configuration: the application's configuration (database, jobs): "
        ),
        "{error}"
    );
    std::fs::remove_file(&file).unwrap();
}
