//! systemd integration as real processes: the `systemd_service` example
//! talks sd_notify to a unix datagram socket this test binds, and serves
//! on a socket passed by Debian's `systemd-socket-activate` (sd_listen_fds),
//! through restarts under load.

#![cfg(unix)]

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Child, examples_dir};

/// Bound on starting a (debug) example up to its first line.
const START: Duration = Duration::from_secs(30);
/// Bound on the whole shutdown of an example.
const EXIT: Duration = Duration::from_secs(30);
/// Bound on one sd_notify datagram arriving.
const DATAGRAM: Duration = Duration::from_secs(30);
const ACTIVATE: &str = "/usr/bin/systemd-socket-activate";

/// The example's command, with the systemd variables of this process (if
/// any) removed so that only what the test sets is seen.
fn example_command() -> Command {
    let path = examples_dir().join("systemd_service");
    assert!(
        path.exists(),
        "{} is missing: run through `cargo test`, which builds the examples",
        path.display()
    );
    let mut cmd = Command::new(path);
    clean_env(&mut cmd);
    cmd
}

fn clean_env(cmd: &mut Command) {
    cmd.env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES");
}

/// The address in the example's `listening on ADDR pid=..` line.
fn listening_addr(line: &str) -> SocketAddr {
    line.split_whitespace()
        .nth(2)
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// The pid in a `listening on ADDR pid=N inherited=..` line.
fn listening_pid(line: &str) -> u32 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("pid="))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// One HTTP/1.1 request on a new connection (`Connection: close`).
/// Returns the status and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete response: {raw:?}"),
        )
    })?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad head {head:?}"),
            )
        })?;
    Ok((status, body.to_owned()))
}

/// Receives one datagram, as text.
fn recv(socket: &UnixDatagram) -> String {
    let mut buf = vec![0; 4096];
    let len = socket
        .recv(&mut buf)
        .expect("an sd_notify datagram within the bound");
    String::from_utf8(buf[..len].to_vec()).expect("datagram is UTF-8")
}

/// The `EXTEND_TIMEOUT_USEC` value of a datagram.
fn extend_usec(datagram: &str) -> u64 {
    datagram
        .lines()
        .find_map(|line| line.strip_prefix("EXTEND_TIMEOUT_USEC="))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no EXTEND_TIMEOUT_USEC in {datagram:?}"))
}

fn status_line(datagram: &str) -> &str {
    datagram
        .lines()
        .find_map(|line| line.strip_prefix("STATUS="))
        .unwrap_or_else(|| panic!("no STATUS in {datagram:?}"))
}

#[test]
fn sd_notify_follows_the_shutdown_over_a_real_datagram_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    socket.set_read_timeout(Some(DATAGRAM)).unwrap();

    let mut cmd = example_command();
    cmd.env("NOTIFY_SOCKET", &path)
        .env("ANNOUNCE_MS", "300")
        .env("DRAIN_TIMEOUT_MS", "2000")
        .env("TIMEOUT_MS", "10000")
        .env("CLEANUP_MS", "200");
    let child = Child::spawn(cmd);

    let ready = recv(&socket);
    assert_eq!(ready, "READY=1\nSTATUS=serving\n");
    // READY means serving: a request is answered at once.
    let addr = listening_addr(&child.expect_line("listening on", START));
    let (code, body) = get(addr, "/").expect("GET / after READY=1");
    assert_eq!(code, 200);
    assert_eq!(body, format!("hello from {}\n", child.pid));

    child.signal("TERM");
    let stopping = recv(&socket);
    let draining = recv(&socket);
    let cleanup = recv(&socket);
    let done = recv(&socket);
    let status = child.wait(EXIT);
    assert!(status.success(), "exit: {status:?}");

    assert!(
        stopping.starts_with("STOPPING=1\nEXTEND_TIMEOUT_USEC="),
        "{stopping:?}"
    );
    assert_eq!(
        status_line(&stopping),
        "announcing (signal SIGTERM): readiness fails, still serving"
    );
    assert_eq!(
        status_line(&draining),
        "draining (signal SIGTERM): finishing in-flight work"
    );
    assert_eq!(
        status_line(&cleanup),
        "cleanup (signal SIGTERM): running shutdown hooks"
    );
    assert_eq!(status_line(&done), "done, exiting");
    for datagram in [&draining, &cleanup, &done] {
        assert!(!datagram.contains("STOPPING"), "{datagram:?}");
        assert!(!datagram.contains("READY"), "{datagram:?}");
    }

    // The remaining deadline (10 s from the trigger) plus the 2 s margin,
    // shrinking as the sequence goes. Each value is taken when its notice is
    // sent, which on a loaded machine may be a while after the state began:
    // the bounds are what must have passed since the trigger by then, the
    // announce delay (300 ms) by draining and cleanup, and the cleanup hook
    // (200 ms) as well by done; not the gaps between two notices.
    let extends: Vec<u64> = [&stopping, &draining, &cleanup, &done]
        .into_iter()
        .map(|d| extend_usec(d))
        .collect();
    println!("EXTEND_TIMEOUT_USEC at announcing, draining, cleanup, done: {extends:?}");
    assert!(extends[0] <= 12_000_000, "{extends:?}");
    assert!(extends[0] > 7_000_000, "{extends:?}");
    assert!(extends[1] <= 12_000_000 - 300_000, "{extends:?}");
    assert!(extends[2] <= 12_000_000 - 300_000, "{extends:?}");
    assert!(extends[3] <= 12_000_000 - 300_000 - 200_000, "{extends:?}");
    assert!(extends.windows(2).all(|w| w[1] <= w[0]), "{extends:?}");
    assert!(extends[3] >= 2_000_000, "{extends:?}");
}

#[test]
fn an_unreachable_notify_socket_is_logged_and_the_service_runs_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = example_command();
    cmd.env("NOTIFY_SOCKET", dir.path().join("nobody-listens.sock"))
        .env("ANNOUNCE_MS", "0");
    let child = Child::spawn(cmd);
    let addr = listening_addr(&child.expect_line("listening on", START));
    child.expect_line("sd_notify: cannot notify the service manager", START);
    let (code, _) = get(addr, "/").expect("served without a service manager");
    assert_eq!(code, 200);
    child.signal("TERM");
    let status = child.wait(EXIT);
    assert!(status.success(), "exit: {status:?}");
    let warnings = child
        .stdout_lines()
        .iter()
        .filter(|line| line.contains("cannot notify"))
        .count();
    // Once for READY (at start), once for the rest of the sequence.
    assert_eq!(warnings, 2, "{:#?}", child.stdout_lines());
}

/// Processes started by a holder (not by the test directly), killed by
/// pid if the test fails before they exit.
#[derive(Default)]
struct Reaper(Mutex<Vec<u32>>);

impl Reaper {
    fn add(&self, pid: u32) {
        self.0.lock().unwrap().push(pid);
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // Only on a failure: after a pass they have exited, and their pids
        // may belong to other processes by now.
        if !std::thread::panicking() {
            return;
        }
        for pid in self.0.lock().unwrap().iter() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Starts `systemd-socket-activate -l 127.0.0.1:PORT` with `args`.
///
/// systemd-socket-activate takes no port 0, so ports are tried from the
/// range below the kernel's ephemeral ports, moving on when one is taken
/// (the tool fails to bind it and exits); the socket is bound by the tool
/// itself, never bound and released first.
fn socket_activate(args: &[&str], env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for attempt in 0..20u64 {
        let port = 20_000 + (seed.wrapping_mul(31).wrapping_add(attempt * 7919)) % 12_000;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(ACTIVATE);
        clean_env(&mut cmd);
        // systemd-socket-activate passes on only the variables named with
        // -E (and LISTEN_*).
        for (key, value) in [("RUST_LOG", "info"), ("NO_COLOR", "1")].iter().chain(env) {
            cmd.arg("-E").arg(format!("{key}={value}"));
        }
        cmd.arg("-l").arg(addr.to_string()).args(args);
        let child = Child::spawn(cmd);
        // Either line comes first; wait for whichever.
        let deadline = Instant::now() + START;
        loop {
            let lines = child.stderr_lines();
            if lines.iter().any(|l| l.contains("Listening on")) {
                return (child, addr);
            }
            if lines
                .iter()
                .any(|l| l.contains("Address already in use") || l.contains("Failed to"))
            {
                let status = child.wait(EXIT);
                assert!(!status.success(), "{lines:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "systemd-socket-activate printed neither: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    panic!("no free port for systemd-socket-activate after 20 attempts");
}

#[test]
fn serves_on_the_socket_systemd_socket_activate_passes() {
    let example = examples_dir().join("systemd_service");
    let (child, addr) = socket_activate(&[example.to_str().unwrap()], &[]);
    // systemd-socket-activate execs the service on the first connection:
    // the request waits in the backlog until the service accepts it.
    let (code, body) = get(addr, "/").expect("GET / through the activated socket");
    assert_eq!(code, 200);
    assert_eq!(body, format!("hello from {}\n", child.pid));
    let line = child.expect_line("listening on", START);
    assert!(line.contains("inherited=true"), "{line}");
    assert_eq!(listening_addr(&line), addr);
    child.signal("TERM");
    let status = child.wait(EXIT);
    assert!(status.success(), "exit: {status:?}");
    child.expect_line("leaving queued connections to the next process", EXIT);
}

/// What the load saw.
#[derive(Debug, Default)]
struct Tally {
    /// Answered 200, by process id.
    ok_by_pid: BTreeMap<u32, usize>,
    /// Any other status, with the count.
    other_status: BTreeMap<u16, usize>,
    refused: usize,
    /// Other failures (reset, timeout, truncated), with the first few.
    errors: Vec<String>,
    /// Requests sent while the previous instance was stopping and
    /// answered by the next one: they waited in the backlog.
    waited: usize,
}

#[test]
fn restarts_under_load_refuse_nothing_and_lose_nothing() {
    const RESTARTS: usize = 2;
    const CLIENTS: usize = 3;
    /// Bound on the requests of one client.
    const MAX_PER_CLIENT: usize = 4000;
    /// Bound on the whole load.
    const LOAD_BOUND: Duration = Duration::from_secs(120);

    let example = examples_dir().join("systemd_service");
    // The holder: like systemd, it keeps the socket and starts the service
    // again when it exits, each instance with LISTEN_PID set to its own pid.
    let holder_script = format!(
        "for i in $(seq {}); do (LISTEN_PID=$BASHPID exec \"$0\"); done",
        RESTARTS + 1
    );
    let (holder, addr) = socket_activate(
        &["/bin/bash", "-c", &holder_script, example.to_str().unwrap()],
        &[("ANNOUNCE_MS", "700"), ("CLEANUP_MS", "100")],
    );
    let reaper = Reaper::default();

    let stop = Arc::new(AtomicBool::new(false));
    // The pid of the instance stopping, while it stops.
    let stopping: Arc<Mutex<Option<u32>>> = Arc::default();
    let tally: Arc<Mutex<Tally>> = Arc::default();
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, stopping, tally) = (stop.clone(), stopping.clone(), tally.clone());
            std::thread::spawn(move || {
                for _ in 0..MAX_PER_CLIENT {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > LOAD_BOUND {
                        break;
                    }
                    let during_stop = *stopping.lock().unwrap();
                    let result = get(addr, "/");
                    let mut tally = tally.lock().unwrap();
                    match result {
                        Ok((200, body)) => {
                            let pid = body
                                .trim()
                                .strip_prefix("hello from ")
                                .and_then(|pid| pid.parse().ok())
                                .unwrap_or(0);
                            *tally.ok_by_pid.entry(pid).or_default() += 1;
                            if during_stop.is_some_and(|old| old != pid) {
                                tally.waited += 1;
                            }
                        }
                        Ok((code, _)) => *tally.other_status.entry(code).or_default() += 1,
                        Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                            tally.refused += 1
                        }
                        Err(error) => {
                            if tally.errors.len() < 5 {
                                tally.errors.push(error.to_string());
                            } else {
                                tally.errors.push(String::new());
                            }
                        }
                    }
                    drop(tally);
                    // A bounded rate: about 300 requests a second per client at most.
                    std::thread::sleep(Duration::from_millis(3));
                }
            })
        })
        .collect();

    let instances = |holder: &Child| -> Vec<u32> {
        holder
            .stdout_lines()
            .iter()
            .filter(|line| line.contains("listening on") && line.contains("inherited=true"))
            .map(|line| listening_pid(line))
            .collect()
    };
    let wait_for_instance = |n: usize| -> u32 {
        let deadline = Instant::now() + START;
        loop {
            let pids = instances(&holder);
            if let Some(&pid) = pids.get(n) {
                reaper.add(pid);
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "instance {n} did not start: {:#?}",
                holder.stdout_lines()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let served_by = |pid: u32, at_least: usize| {
        let deadline = Instant::now() + START;
        while tally
            .lock()
            .unwrap()
            .ok_by_pid
            .get(&pid)
            .copied()
            .unwrap_or(0)
            < at_least
        {
            assert!(Instant::now() < deadline, "{pid} served too little");
            std::thread::sleep(Duration::from_millis(5));
        }
    };

    for n in 0..RESTARTS {
        let pid = wait_for_instance(n);
        served_by(pid, 50);
        *stopping.lock().unwrap() = Some(pid);
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let next = wait_for_instance(n + 1);
        *stopping.lock().unwrap() = None;
        served_by(next, 50);
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let last = *instances(&holder).last().unwrap();
    Command::new("kill")
        .arg("-TERM")
        .arg(last.to_string())
        .status()
        .unwrap();
    // After the last instance the holder's loop ends.
    let status = holder.wait(EXIT);
    assert!(
        status.success(),
        "holder: {status:?}\n{:#?}",
        holder.stdout_lines()
    );

    let tally = tally.lock().unwrap();
    let sent: usize = tally.ok_by_pid.values().sum::<usize>()
        + tally.other_status.values().sum::<usize>()
        + tally.refused
        + tally.errors.len();
    println!(
        "{RESTARTS} restarts under load: {sent} requests, ok by pid {:?}, {} waited in the \
         backlog across a restart, other statuses {:?}, refused {}, errors {}",
        tally.ok_by_pid,
        tally.waited,
        tally.other_status,
        tally.refused,
        tally.errors.len()
    );
    let log = holder.stdout_lines().join("\n");
    // The settings reached every instance.
    assert_eq!(
        log.matches("announce_delay=700ms").count(),
        RESTARTS + 1,
        "{log}"
    );
    assert_eq!(tally.refused, 0, "{tally:?}\n{log}");
    assert!(tally.errors.is_empty(), "{tally:?}\n{log}");
    assert!(tally.other_status.is_empty(), "{tally:?}\n{log}");
    assert_eq!(tally.ok_by_pid.len(), RESTARTS + 1, "{tally:?}");
    assert!(!tally.ok_by_pid.contains_key(&0), "{tally:?}");
    assert!(
        tally.waited > 0,
        "nothing was sent during a restart: {tally:?}"
    );
}
