//! Socket activation: the listening socket the service manager passes
//! (sd_listen_fds(3)).

use std::io;
use std::net::TcpListener;

/// The listening TCP socket the service manager passed to this process
/// (systemd socket activation: `LISTEN_FDS` and `LISTEN_PID`, see
/// sd_listen_fds(3)), ready for `tokio::net::TcpListener::from_std`
/// (non-blocking, close-on-exec); `Ok(None)` when none was passed.
///
/// With the socket held by the service manager, connections that arrive
/// while the service restarts wait in the kernel's backlog instead of being
/// refused. Serve it with a server that leaves that backlog to the next
/// process (`winddown_server::Server::listener_outlives_process`).
///
/// It reads:
///
/// - `LISTEN_PID`: when set, the descriptors are this process's only if it
///   is this process's id; otherwise they were meant for another process
///   (this one inherited the variables from it) and the answer is
///   `Ok(None)`, as sd_listen_fds(3) does.
/// - `LISTEN_FDS`: how many descriptors were passed, from 1 to
///   1024; `Ok(None)` when it is not set.
/// - `LISTEN_FDS_FIRST_FD`: the first of them (default 3,
///   `SD_LISTEN_FDS_START`); at least 3.
///
/// The first passed descriptor is used; the others are left open.
///
/// The environment: taking the descriptors removes `LISTEN_FDS` and
/// `LISTEN_PID` from it (so that a later call, or a child process that
/// reads `LISTEN_FDS` alone, does not take the socket again). Removing a
/// variable while another thread reads the environment is not safe on
/// every platform, so call it once, at start-up, before any other thread
/// starts (before the tokio runtime, as in the example). When the
/// descriptors are not this process's, or a variable is invalid, the
/// environment is left as it is.
///
/// # Errors
///
/// Of kind [`InvalidInput`](io::ErrorKind::InvalidInput), naming the
/// variable, its value and what is expected, when `LISTEN_PID`,
/// `LISTEN_FDS` or `LISTEN_FDS_FIRST_FD` is not a valid number (or is out
/// of range); naming the descriptor, when the first passed descriptor is
/// not a listening TCP socket (a `ListenStream=` of an address or a port
/// in the `.socket` unit, with `Accept=no`, is expected).
///
/// # Examples
///
/// ```no_run
/// fn main() -> std::io::Result<()> {
///     // First, before the runtime's threads start.
///     let inherited = winddown_systemd::tcp_listener_from_env()?;
///     tokio::runtime::Runtime::new()?.block_on(async {
///         let listener = match inherited {
///             Some(inherited) => tokio::net::TcpListener::from_std(inherited)?,
///             None => tokio::net::TcpListener::bind("127.0.0.1:8080").await?,
///         };
///         # drop(listener);
///         Ok(())
///     })
/// }
/// ```
pub fn tcp_listener_from_env() -> io::Result<Option<TcpListener>> {
    imp::tcp_listener_from_env()
}

#[cfg(unix)]
mod imp {
    use std::ffi::{OsStr, OsString};
    use std::io;
    use std::net::TcpListener;

    use tracing::warn;
    use winddown_core::text;

    /// The most descriptors `LISTEN_FDS` may name: far more than a
    /// `.socket` unit passes, far less than what would exhaust anything.
    const MAX_FDS: u32 = 1024;

    /// `SD_LISTEN_FDS_START`: the first passed descriptor unless
    /// `LISTEN_FDS_FIRST_FD` says otherwise (never one of stdin, stdout,
    /// stderr).
    const FIRST_FD: i32 = 3;

    /// The descriptors the environment says were passed to this process.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) struct Passed {
        /// The first descriptor.
        pub(super) first: i32,
        /// How many, from 1 to [`MAX_FDS`]; `first + count - 1` is a
        /// descriptor number.
        pub(super) count: u32,
    }

    pub(super) fn tcp_listener_from_env() -> io::Result<Option<TcpListener>> {
        let Some(passed) = passed(|name| std::env::var_os(name), std::process::id())? else {
            return Ok(None);
        };
        if passed.count > 1 {
            warn!(
                target: "winddown",
                passed = passed.count,
                "socket activation: more than one descriptor passed; serving on the first"
            );
        }
        // `listenfd` owns the descriptors: it reads the same variables,
        // checked above, and removes LISTEN_FDS and LISTEN_PID.
        let mut fds = listenfd::ListenFd::from_env();
        if fds.len() != passed.count as usize {
            return Err(io::Error::other(format!(
                "socket activation: the environment changed while LISTEN_FDS was read ({} \
                 descriptors, then {})",
                passed.count,
                fds.len()
            )));
        }
        let fd = passed.first;
        let unusable = |why: &dyn std::fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "socket activation (LISTEN_FDS): descriptor {fd}, the first passed, cannot be \
                     served: {why}; expected a listening TCP socket (ListenStream= with an \
                     address or a port, and Accept=no)"
                ),
            )
        };
        let listener = fds
            .take_tcp_listener(0)
            .map_err(|error| unusable(&error))?
            .ok_or_else(|| unusable(&"it was taken already"))?;
        // A TCP socket that is not listening: a connection passed with
        // Accept=yes, or a socket bound but never listened on.
        #[cfg(not(target_vendor = "apple"))]
        if !rustix::net::sockopt::socket_acceptconn(&listener)? {
            return Err(unusable(&"it is a TCP socket that is not listening"));
        }
        listener.set_nonblocking(true)?;
        Ok(Some(listener))
    }

    /// What `var` (the environment) says was passed to the process `pid`:
    /// `None` when nothing was, or it was meant for another process.
    pub(super) fn passed(
        var: impl Fn(&str) -> Option<OsString>,
        pid: u32,
    ) -> io::Result<Option<Passed>> {
        let Some(count) = var("LISTEN_FDS") else {
            return Ok(None);
        };
        if let Some(listen_pid) = var("LISTEN_PID") {
            let Some(listen_pid) = number::<u32>(&listen_pid).filter(|&n| n > 0) else {
                return Err(invalid(
                    "LISTEN_PID",
                    &listen_pid,
                    format!(
                        "the id of the process the descriptors are passed to, a positive \
                         number (this process: {pid})"
                    ),
                ));
            };
            if listen_pid != pid {
                return Ok(None);
            }
        }
        let Some(count_n) = number::<u32>(&count).filter(|n| (1..=MAX_FDS).contains(n)) else {
            return Err(invalid(
                "LISTEN_FDS",
                &count,
                format!("the number of passed descriptors, from 1 to {MAX_FDS}"),
            ));
        };
        let first = match var("LISTEN_FDS_FIRST_FD") {
            None => FIRST_FD,
            Some(first) => {
                // The last descriptor, `first + count - 1`, must be a
                // descriptor number too.
                let last_offset = i32::try_from(count_n - 1).unwrap_or(i32::MAX);
                let max = i32::MAX - last_offset;
                match number::<i32>(&first) {
                    Some(n) if (FIRST_FD..=max).contains(&n) => n,
                    _ => {
                        return Err(invalid(
                            "LISTEN_FDS_FIRST_FD",
                            &first,
                            format!(
                                "the first passed descriptor, from {FIRST_FD} to {max} with \
                                 LISTEN_FDS={count_n} (default {FIRST_FD})"
                            ),
                        ));
                    }
                }
            }
        };
        Ok(Some(Passed {
            first,
            count: count_n,
        }))
    }

    /// `value` as a decimal number of type `T`; `None` when it is not one.
    fn number<T: std::str::FromStr>(value: &OsStr) -> Option<T> {
        let value = value.to_str()?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value.parse().ok()
    }

    /// The error for variable `name`, set to `value`, which should be
    /// `expected`.
    fn invalid(name: &str, value: &OsStr, expected: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "socket activation: {name}=\"{}\" is invalid; expected {expected}",
                shown(value)
            ),
        )
    }

    /// An environment value as an error message shows it: control
    /// characters escaped, at most 64 characters.
    fn shown(value: &OsStr) -> String {
        const MAX: usize = 64;
        let value = value.to_string_lossy();
        let mut chars = value.chars();
        let head: String = chars.by_ref().take(MAX).collect();
        let mut shown = text::escaped(&head).into_owned();
        if chars.next().is_some() {
            shown.push_str(" […]");
        }
        shown
    }
}

#[cfg(not(unix))]
mod imp {
    use std::io;
    use std::net::TcpListener;

    pub(super) fn tcp_listener_from_env() -> io::Result<Option<TcpListener>> {
        Ok(None)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::ffi::OsString;
    use std::io::ErrorKind;
    use std::os::fd::OwnedFd;

    use super::imp::{Passed, passed};
    use super::tcp_listener_from_env;
    use crate::test_child::{self, MODE, OWN_PID};

    const CHILD_MODE: &str = "listen::tests::child_mode";

    /// Variables and their values.
    type Env<'a> = &'a [(&'a str, &'a str)];

    /// Child mode only: what [`tcp_listener_from_env`] makes of the
    /// environment, twice, and what is left of `LISTEN_FDS`.
    #[test]
    fn child_mode() {
        if std::env::var(MODE).as_deref() != Ok("listen") {
            return;
        }
        for _ in 0..2 {
            match tcp_listener_from_env() {
                Ok(Some(listener)) => {
                    println!("RESULT ok {}", listener.local_addr().unwrap());
                    // Still listening: a connection is accepted.
                    let addr = listener.local_addr().unwrap();
                    let _client = std::net::TcpStream::connect(addr).unwrap();
                    listener.set_nonblocking(false).unwrap();
                    listener.accept().unwrap();
                }
                Ok(None) => println!("RESULT ok none"),
                Err(error) => println!("RESULT err {:?} {error}", error.kind()),
            }
        }
        println!("RESULT env {:?}", std::env::var_os("LISTEN_FDS"));
    }

    /// Runs [`child_mode`] with `env` and, when given, `fd3` as its
    /// descriptor 3: the results of both calls, and the output.
    fn child(env: &[(&str, &str)], fd3: Option<OwnedFd>) -> (Vec<String>, String) {
        let (status, output) = test_child::run(CHILD_MODE, "listen", env, fd3);
        assert!(status.success(), "{env:?}: {status}:\n{output}");
        let results: Vec<String> = output
            .lines()
            .filter_map(|line| line.strip_prefix("RESULT "))
            .map(str::to_owned)
            .collect();
        assert_eq!(results.len(), 3, "{env:?}:\n{output}");
        (results, output)
    }

    /// A count of two billion made the process allocate 8 GB before
    /// anything was checked (an abort, or the OOM killer); a first
    /// descriptor near `i32::MAX` overflowed `first + offset`; a number
    /// too large for any integer was taken as "nothing passed".
    #[test]
    fn hostile_listen_fds_values_are_errors_naming_the_variable_not_a_crash() {
        for (env, named) in [
            (
                &[("LISTEN_FDS", "2000000000")][..],
                "LISTEN_FDS=\"2000000000\"",
            ),
            (
                &[("LISTEN_FDS", "2"), ("LISTEN_FDS_FIRST_FD", "2147483647")][..],
                "LISTEN_FDS_FIRST_FD=\"2147483647\"",
            ),
            (
                &[("LISTEN_FDS", "18446744073709551615")][..],
                "LISTEN_FDS=\"18446744073709551615\"",
            ),
            (
                &[("LISTEN_FDS", "1\nINFO forged"), ("LISTEN_PID", OWN_PID)][..],
                r#"LISTEN_FDS="1\nINFO forged""#,
            ),
        ] {
            let (results, output) = child(env, None);
            for result in &results[..2] {
                assert!(
                    result.starts_with("err InvalidInput") && result.contains(named),
                    "{env:?}: {result}\n{output}"
                );
            }
            // Nothing was taken: the environment is as it was.
            assert!(results[2].starts_with("env Some"), "{env:?}:\n{output}");
        }
    }

    #[test]
    fn invalid_values_are_errors_naming_the_variable_the_value_and_the_expected_form() {
        let pid = 4242;
        let cases: &[(Env<'_>, &str)] = &[
            (
                &[("LISTEN_FDS", "")],
                "LISTEN_FDS=\"\" is invalid; expected the number of passed descriptors, from 1 \
                 to 1024",
            ),
            (&[("LISTEN_FDS", "0")], "LISTEN_FDS=\"0\""),
            (&[("LISTEN_FDS", "1025")], "LISTEN_FDS=\"1025\""),
            (&[("LISTEN_FDS", "-1")], "LISTEN_FDS=\"-1\""),
            (&[("LISTEN_FDS", "+1")], "LISTEN_FDS=\"+1\""),
            (&[("LISTEN_FDS", " 1")], "LISTEN_FDS=\" 1\""),
            (
                &[("LISTEN_FDS", "1"), ("LISTEN_PID", "self")],
                "LISTEN_PID=\"self\" is invalid; expected the id of the process the descriptors \
                 are passed to, a positive number (this process: 4242)",
            ),
            (
                &[("LISTEN_FDS", "1"), ("LISTEN_PID", "")],
                "LISTEN_PID=\"\"",
            ),
            (
                &[("LISTEN_FDS", "1"), ("LISTEN_PID", "0")],
                "LISTEN_PID=\"0\"",
            ),
            (
                &[("LISTEN_FDS", "1"), ("LISTEN_FDS_FIRST_FD", "0")],
                "LISTEN_FDS_FIRST_FD=\"0\" is invalid; expected the first passed descriptor, \
                 from 3 to 2147483647 with LISTEN_FDS=1 (default 3)",
            ),
            (
                &[("LISTEN_FDS", "2"), ("LISTEN_FDS_FIRST_FD", "2147483647")],
                "from 3 to 2147483646 with LISTEN_FDS=2",
            ),
            (
                &[("LISTEN_FDS", "1"), ("LISTEN_FDS_FIRST_FD", "2147483648")],
                "LISTEN_FDS_FIRST_FD=\"2147483648\"",
            ),
            (
                &[("LISTEN_FDS", "1\u{1b}[31m")],
                r#"LISTEN_FDS="1\u{1b}[31m" is invalid"#,
            ),
        ];
        for (env, expected) in cases {
            let var = |name: &str| {
                env.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            };
            let error = passed(var, pid).expect_err(&format!("{env:?}"));
            assert_eq!(error.kind(), ErrorKind::InvalidInput, "{env:?}");
            assert!(
                error.to_string().contains(expected),
                "{env:?}: {error} does not contain {expected}"
            );
        }

        let long = "9".repeat(200);
        let var = |name: &str| (name == "LISTEN_FDS").then(|| OsString::from(&long));
        let error = passed(var, pid).unwrap_err().to_string();
        assert!(
            error.contains(&format!("\"{} […]\"", "9".repeat(64))),
            "{error}"
        );
    }

    #[test]
    fn valid_values_name_the_passed_descriptors() {
        let pid = 4242;
        let cases: &[(Env<'_>, Option<Passed>)] = &[
            (&[], None),
            (&[("LISTEN_PID", "4242")], None),
            (&[("LISTEN_FDS", "1")], Some(Passed { first: 3, count: 1 })),
            (
                &[("LISTEN_FDS", "1024"), ("LISTEN_PID", "4242")],
                Some(Passed {
                    first: 3,
                    count: 1024,
                }),
            ),
            (
                &[("LISTEN_FDS", "2"), ("LISTEN_FDS_FIRST_FD", "2147483646")],
                Some(Passed {
                    first: 2_147_483_646,
                    count: 2,
                }),
            ),
            // Meant for another process: not checked further.
            (&[("LISTEN_FDS", "1"), ("LISTEN_PID", "4243")], None),
            (&[("LISTEN_FDS", "junk"), ("LISTEN_PID", "1")], None),
        ];
        for (env, expected) in cases {
            let var = |name: &str| {
                env.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            };
            assert_eq!(passed(var, pid).unwrap(), *expected, "{env:?}");
        }
    }

    #[test]
    fn the_passed_listening_socket_is_served_once_and_its_variables_removed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (results, output) = child(
            &[("LISTEN_FDS", "1"), ("LISTEN_PID", OWN_PID)],
            Some(OwnedFd::from(listener)),
        );
        assert_eq!(results[0], format!("ok {addr}"), "{output}");
        assert_eq!(results[1], "ok none", "{output}");
        assert_eq!(results[2], "env None", "{output}");
    }

    #[test]
    fn descriptors_passed_to_another_process_are_left_alone() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // pid 1 is never a test's child.
        let (results, output) = child(
            &[("LISTEN_FDS", "1"), ("LISTEN_PID", "1")],
            Some(OwnedFd::from(listener)),
        );
        assert_eq!(results[..2], ["ok none", "ok none"], "{output}");
        assert_eq!(results[2], "env Some(\"1\")", "{output}");
    }

    /// A connection passed with `Accept=yes` is a TCP socket too, but
    /// accepting on it fails.
    #[test]
    fn a_passed_socket_that_is_not_a_tcp_listener_is_an_error_naming_the_descriptor() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let connection = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let file = tempfile::tempfile().unwrap();
        for (fd3, why) in [
            (
                OwnedFd::from(connection),
                "it is a TCP socket that is not listening",
            ),
            (OwnedFd::from(file), "fd 3 is not a socket"),
        ] {
            let (results, output) =
                child(&[("LISTEN_FDS", "1"), ("LISTEN_PID", OWN_PID)], Some(fd3));
            let error = &results[0];
            assert!(
                error.starts_with(
                    "err InvalidInput socket activation (LISTEN_FDS): descriptor 3, the first \
                     passed, cannot be served: "
                ) && error.contains(why)
                    && error.ends_with(
                        "expected a listening TCP socket (ListenStream= with an \
                     address or a port, and Accept=no)"
                    ),
                "{output}"
            );
        }
    }
}
