//! Hostile or careless configuration, against the real `config_check`
//! binary: durations too long to be real, passwords in a URL, a directory,
//! a FIFO, an unreadable file or a huge file where the configuration file
//! should be. Each is one line on stderr naming what is wrong, exit 78
//! (EX_CONFIG), and nothing started.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::Child;

/// A scratch directory of this test, removed at the end.
struct Scratch(tempfile::TempDir);

impl Scratch {
    /// A directory of its own (created exclusively), removed when dropped.
    fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("winddown-config-hardening-{name}-"))
            .tempdir()
            .unwrap();
        // Traversable by another user (see `an_unreadable_file_is_named`).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

fn config_check(file: Option<&Path>, env: &[(&str, &str)]) -> Command {
    let mut cmd = support::command(support::examples_dir().join("config_check"));
    cmd.env("APP__SERVER__ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    if let Some(file) = file {
        cmd.arg(file);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Exit 78 within 20 s (a FIFO must not make it wait), exactly one stderr
/// line, nothing on stdout (it never printed its configuration, nor
/// started listening).
fn assert_refused(cmd: Command, message: &str) {
    let child = Child::spawn(cmd);
    let status = child.wait(Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(78),
        "stderr: {:?}",
        child.stderr_lines()
    );
    assert_eq!(
        child.stderr_lines(),
        [format!("configuration error: {message}")]
    );
    assert_eq!(child.stdout_lines(), Vec::<String>::new());
}

const OVER_MAX: &str = r#"a duration of at most "24h" (the longest any winddown duration may be)"#;

#[test]
fn durations_that_would_overflow_are_refused_at_load_time() {
    let cases = [
        ("APP__SHUTDOWN__DRAIN_TIMEOUT", "18446744073709551615s"),
        ("APP__SHUTDOWN__ANNOUNCE_DELAY", "18446744073709551615s"),
        ("APP__SHUTDOWN__HOOK_TIMEOUT", "18446744073709551615s"),
        ("APP__SHUTDOWN__TIMEOUT", "9223372036854775807s"),
        ("APP__SHUTDOWN__TIMEOUT", "300000000000y"),
        ("APP__SHUTDOWN__RETRY_AFTER", "18446744073709551615s"),
        ("APP__METRICS__LINGER", "25h"),
        (
            "APP__SHUTDOWN__KUBERNETES_GRACE_PERIOD",
            "9223372036854775807s",
        ),
    ];
    for (var, value) in cases {
        let key = var
            .trim_start_matches("APP__")
            .to_ascii_lowercase()
            .replace("__", ".");
        assert_refused(
            config_check(None, &[(var, value)]),
            &format!("{key}: expected {OVER_MAX}, got {value:?} (from {var})"),
        );
    }
}

#[test]
fn a_pushgateway_password_is_hidden_and_the_reason_given() {
    let child = Child::spawn(config_check(
        None,
        &[(
            "APP__METRICS__PUSHGATEWAY",
            "http://ops:s3cret@127.0.0.1:9091",
        )],
    ));
    assert_eq!(child.wait(Duration::from_secs(20)).code(), Some(78));
    let stderr = child.stderr_lines().join("\n");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert_eq!(
        stderr,
        r#"configuration error: metrics.pushgateway: expected an http:// URL without user or password like "http://pushgateway:9091" (credentials in the URL are not supported: the push sends no Authorization header; put a proxy that adds it in front of the gateway), got "http://***@127.0.0.1:9091" (from APP__METRICS__PUSHGATEWAY)"#
    );
}

#[test]
fn a_directory_is_not_a_missing_file() {
    let scratch = Scratch::new("dir");
    let dir = scratch.path("app.toml");
    std::fs::create_dir(&dir).unwrap();
    assert_refused(
        config_check(Some(&dir), &[]),
        &format!(
            "{}: is a directory, not a configuration file; expected a regular TOML file",
            dir.display()
        ),
    );
    // A missing file is still called one.
    let missing = scratch.path("missing.toml");
    assert_refused(
        config_check(Some(&missing), &[]),
        &format!("{}: no such configuration file", missing.display()),
    );
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let scratch = Scratch::new("fifo");
    let fifo = scratch.path("app.toml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    assert_refused(
        config_check(Some(&fifo), &[]),
        &format!(
            "{}: is a FIFO (named pipe), not a configuration file; expected a regular TOML file",
            fifo.display()
        ),
    );
}

/// Whether this process runs as root (who reads any file).
fn running_as_root(scratch: &Scratch) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = scratch.path("owner-probe");
    std::fs::write(&probe, "").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    uid == 0
}

#[test]
fn an_unreadable_file_is_named_with_the_cause() {
    use std::os::unix::process::CommandExt;
    let scratch = Scratch::new("unreadable");
    let file = scratch.path("app.toml");
    std::fs::write(&file, "[shutdown]\ntimeout = \"20s\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = config_check(Some(&file), &[]);
    if running_as_root(&scratch) {
        // Root reads anything: run it as `nobody` instead, from a copy of
        // the binary it can execute wherever the target directory is. The
        // copy is written by `cp`, not by this process: a child another test
        // thread forks while the copy is open for writing would keep it open
        // (`Text file busy` when it is run).
        let binary = scratch.path("config_check");
        let copied = Command::new("cp")
            .arg(support::examples_dir().join("config_check"))
            .arg(&binary)
            .status()
            .expect("run cp");
        assert!(copied.success(), "cp: {copied:?}");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut as_nobody = support::command(&binary);
        as_nobody.args(cmd.get_args()).envs(
            cmd.get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        );
        as_nobody.uid(65534).gid(65534);
        cmd = as_nobody;
    }
    assert_refused(
        cmd,
        &format!(
            "{}: cannot read it: Permission denied (os error 13)",
            file.display()
        ),
    );
}

#[test]
fn a_file_over_1_mib_is_refused_before_it_is_read() {
    let scratch = Scratch::new("large");
    let large = scratch.path("app.toml");
    // Sparse: 64 MiB of nothing on disk. Read whole, it would cost that
    // much memory before failing to parse.
    let file = std::fs::File::create(&large).unwrap();
    file.set_len(64 * 1024 * 1024).unwrap();
    drop(file);
    assert_refused(
        config_check(Some(&large), &[]),
        &format!(
            "{}: is 67108864 bytes, over the limit of 1048576 bytes (1 MiB) for a configuration file",
            large.display()
        ),
    );
    // Just over the limit.
    std::fs::File::options()
        .write(true)
        .open(&large)
        .unwrap()
        .set_len(1024 * 1024 + 1)
        .unwrap();
    assert_refused(
        config_check(Some(&large), &[]),
        &format!(
            "{}: is 1048577 bytes, over the limit of 1048576 bytes (1 MiB) for a configuration file",
            large.display()
        ),
    );

    // Exactly 1 MiB of valid TOML (a setting padded with comments) starts.
    let setting = "[shutdown]\ndrain_timeout = \"7s\"\n";
    let line = format!("#{}\n", "x".repeat(1022));
    let mut text = setting.to_owned();
    while text.len() + line.len() <= 1024 * 1024 {
        text.push_str(&line);
    }
    text.push_str(&"#".repeat(1024 * 1024 - text.len() - 1));
    text.push('\n');
    assert_eq!(text.len(), 1024 * 1024);
    let exact = scratch.path("exact.toml");
    std::fs::write(&exact, &text).unwrap();
    let child = Child::spawn(config_check(Some(&exact), &[]));
    child.expect_line("drain_timeout = \"7s\"", Duration::from_secs(20));
    child.expect_line("listening on ", Duration::from_secs(20));
    child.signal("TERM");
    assert_eq!(child.wait(Duration::from_secs(20)).code(), Some(0));
}
