//! A service with a bad configuration does not start: the `config_check`
//! example run as a real process with bad values exits 78 (EX_CONFIG) with
//! one line naming the key, the value and what was expected, and never
//! listens. A good configuration starts and stops cleanly.
//!
//! The children bind port 0 (a free port the kernel picks) and print the
//! address they got.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::Child;

/// Any free port: the child binds it and says which in its "listening on"
/// line.
const ANY_PORT: &str = "127.0.0.1:0";

fn assert_refused_start(child: &Child, message: &str) {
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
    // Nothing started: no configuration printed, no "listening" line (the
    // child prints it as soon as it has bound its port).
    assert_eq!(child.stdout_lines(), Vec::<String>::new());
}

#[test]
fn bad_environment_values_exit_78_before_anything_starts() {
    let cases = [
        (
            "APP__SHUTDOWN__DRAIN_TIMEOUT",
            "ten",
            r#"shutdown.drain_timeout: expected a duration like "15s" or "250ms", got "ten" (from APP__SHUTDOWN__DRAIN_TIMEOUT)"#,
        ),
        (
            "APP__SHUTDOWN__TIMEOUT",
            "0s",
            r#"shutdown.timeout: expected a duration greater than zero like "30s" or "500ms", got "0s" (from APP__SHUTDOWN__TIMEOUT)"#,
        ),
        (
            "APP__SHUTDOWN__HOOK_TIMEOUT",
            "-5s",
            r#"shutdown.hook_timeout: expected a duration greater than zero like "30s" or "500ms", got "-5s" (from APP__SHUTDOWN__HOOK_TIMEOUT)"#,
        ),
        (
            "APP__METRICS__PUSHGATEWAY",
            "pushgateway:9091",
            r#"metrics.pushgateway: expected an http:// URL like "http://pushgateway:9091", or "" for off, got "pushgateway:9091" (from APP__METRICS__PUSHGATEWAY)"#,
        ),
        (
            "APP__SHUTDOWN__DRAIN_TIMOUT",
            "10s",
            r#"shutdown.drain_timout: unknown key (from APP__SHUTDOWN__DRAIN_TIMOUT); did you mean shutdown.drain_timeout?"#,
        ),
    ];
    for (var, value, message) in cases {
        let child = Child::example(
            "config_check",
            &[("APP__SERVER__ADDR", ANY_PORT), (var, value)],
        );
        assert_refused_start(&child, message);
    }
}

#[test]
fn a_bad_address_and_a_bad_file_exit_78_too() {
    let child = Child::example("config_check", &[("APP__SERVER__ADDR", "localhost:0")]);
    assert_refused_start(
        &child,
        r#"server.addr: expected a socket address like "0.0.0.0:8080" or "[::]:8080", got "localhost:0" (from APP__SERVER__ADDR)"#,
    );

    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("app.toml");
    std::fs::write(&file, "[shutdown]\ntimeout = 30\n").unwrap();
    let mut cmd = support::command(support::examples_dir().join("config_check"));
    cmd.arg(&file).env("APP__SERVER__ADDR", ANY_PORT);
    let child = Child::spawn(cmd);
    assert_refused_start(
        &child,
        &format!(
            r#"shutdown.timeout: expected a duration greater than zero like "30s" or "500ms", got 30 (in {})"#,
            file.display()
        ),
    );
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_good_configuration_starts_and_stops_cleanly() {
    let child = Child::example(
        "config_check",
        &[
            ("APP__SERVER__ADDR", ANY_PORT),
            ("APP__SHUTDOWN__DRAIN_TIMEOUT", "1s"),
            ("APP__SHUTDOWN__TIMEOUT", "5s"),
        ],
    );
    let line = child.expect_line("listening on 127.0.0.1:", Duration::from_secs(20));
    let addr: SocketAddr = line
        .trim_start_matches("listening on ")
        .parse()
        .unwrap_or_else(|e| panic!("an address in {line:?}: {e}"));
    assert_ne!(addr.port(), 0, "the port it got");
    assert!(
        child
            .stdout_lines()
            .contains(&r#"drain_timeout = "1s""#.to_owned())
    );
    TcpStream::connect(addr).expect("it listens");
    child.signal("TERM");
    assert_eq!(child.wait(Duration::from_secs(10)).code(), Some(0));
}
