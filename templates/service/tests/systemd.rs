//! The service under systemd's protocols, as real processes: sd_notify to
//! a unix datagram socket this test binds, and socket activation through
//! `systemd-socket-activate` (Debian/Ubuntu package `systemd`), restarted
//! under load with nothing refused and nothing lost.
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BOUND, Process, kill, no_metrics_flush, service_command, unique_stamp};

const ACTIVATE: &str = "systemd-socket-activate";

/// The settings every run here shares: no metrics flush to wait for.
fn command(program: &str) -> Command {
    let mut command = service_command(program);
    no_metrics_flush(&mut command);
    command
}

/// The address in a `listening on ADDR` line.
fn addr_of(line: &str) -> SocketAddr {
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// One request on a new connection, `Connection: close`: the status.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    request(addr, "GET", path)
}

/// One request without a body on a new connection; the status.
fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(BOUND))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    if !raw.contains("\r\n\r\n") {
        return Err(std::io::Error::other(format!(
            "incomplete response {raw:?}"
        )));
    }
    raw.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {raw:?}")))
}

/// A path in the temporary directory that nothing else uses: the test's
/// process id and the time in its name. The caller creates it exclusively.
fn unique_temp_path(what: &str, extension: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "{{crate_name}}-{what}-{}.{extension}",
        unique_stamp()
    ))
}

/// A stand-in for systemd's notify socket at a fresh path; bind(2) creates
/// the file and fails if anything is there. Removed when dropped.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
}

impl NotifySocket {
    fn bind(what: &str) -> NotifySocket {
        let path = unique_temp_path(what, "sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket.set_read_timeout(Some(BOUND)).unwrap();
        NotifySocket { socket, path }
    }

    /// The next datagram, within `BOUND`.
    fn recv(&self) -> String {
        let mut buf = vec![0; 4096];
        let len = self.socket.recv(&mut buf).expect("an sd_notify datagram");
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn sd_notify_tells_systemd_each_state() {
    let notify = NotifySocket::bind("notify");
    let recv = || notify.recv();

    let mut command = command(env!("CARGO_BIN_EXE_{{project-name}}"));
    command
        .env("NOTIFY_SOCKET", &notify.path)
        .env("APP__SHUTDOWN__ANNOUNCE_DELAY", "200ms")
        .env("APP__SHUTDOWN__TIMEOUT", "20s");
    let service = Process::start("service", command);
    assert_eq!(recv(), "READY=1\nSTATUS=serving\n");
    let addr = addr_of(&service.nth_line("listening on", 0));
    assert_eq!(get(addr, "/").expect("served once READY"), 200);

    kill("TERM", service.id());
    let messages: Vec<String> = (0..4).map(|_| recv()).collect();
    assert_eq!(service.wait(), 0, "{}", service.lines().join("\n"));
    println!("{messages:#?}");
    assert!(
        messages[0].starts_with("STOPPING=1\nEXTEND_TIMEOUT_USEC="),
        "{messages:?}"
    );
    for (message, state) in messages
        .iter()
        .zip(["announcing", "draining", "cleanup", "done"])
    {
        let status = message
            .lines()
            .find_map(|l| l.strip_prefix("STATUS="))
            .unwrap_or_else(|| panic!("no STATUS in {message:?}"));
        assert!(status.starts_with(state), "{message:?}");
        let extend: u64 = message
            .lines()
            .find_map(|l| l.strip_prefix("EXTEND_TIMEOUT_USEC="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no EXTEND_TIMEOUT_USEC in {message:?}"));
        // At most the deadline (20 s) plus the 2 s margin; at least the margin.
        assert!((2_000_000..=22_000_000).contains(&extend), "{message:?}");
    }
}

/// `systemd-socket-activate -l 127.0.0.1:PORT ARGS`. It takes no port 0:
/// ports are tried below the kernel's ephemeral range, moving on when one
/// is taken (the tool fails to bind it and exits).
fn socket_activate(args: &[&str], env: &[(&str, &str)]) -> (Process, SocketAddr) {
    let seed = u64::from(std::process::id())
        ^ u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos(),
        );
    for attempt in 0..20u64 {
        let port = 20_000 + seed.wrapping_mul(31).wrapping_add(attempt * 7919) % 12_000;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            Command::new(ACTIVATE)
                .arg("--version")
                .stdout(Stdio::null())
                .status()
                .is_ok(),
            "{ACTIVATE} is missing (Debian/Ubuntu package systemd)"
        );
        let mut command = command(ACTIVATE);
        // systemd-socket-activate passes on only the variables named with
        // -E (and LISTEN_*): the shared settings, then `env`.
        let shared: Vec<(String, String)> = command
            .get_envs()
            .filter_map(|(key, value)| {
                Some((key.to_str()?.to_owned(), value?.to_str()?.to_owned()))
            })
            .collect();
        for (key, value) in shared
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(env.iter().copied())
        {
            command.arg("-E").arg(format!("{key}={value}"));
        }
        command.arg("-l").arg(addr.to_string()).args(args);
        let process = Process::start("service", command);
        let deadline = Instant::now() + BOUND;
        loop {
            let lines = process.lines();
            if lines.iter().any(|l| l.contains("Listening on")) {
                return (process, addr);
            }
            if lines.iter().any(|l| l.contains("Failed to")) {
                assert_ne!(process.wait(), 0, "{lines:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{ACTIVATE} printed nothing: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    panic!("no free port for {ACTIVATE} after 20 attempts")
}

#[test]
fn restarts_under_socket_activation_refuse_nothing_and_lose_nothing() {
    const RESTARTS: usize = 2;
    const CLIENTS: usize = 3;
    const MAX_PER_CLIENT: usize = 4000;

    // Like systemd, the holder keeps the socket and starts the service
    // again when it exits, with LISTEN_PID set to each instance's pid.
    let script = format!(
        "for i in $(seq {}); do (echo \"instance pid $BASHPID\"; LISTEN_PID=$BASHPID exec \"$0\"); done",
        RESTARTS + 1
    );
    let (holder, addr) = socket_activate(
        &[
            "/bin/bash",
            "-c",
            &script,
            env!("CARGO_BIN_EXE_{{project-name}}"),
        ],
        &[("APP__SHUTDOWN__ANNOUNCE_DELAY", "1s")],
    );

    // A new connection per request.
    let load = Load::start(CLIENTS, MAX_PER_CLIENT, Duration::from_millis(3), || {
        move || get(addr, "/").map_err(|error| error.to_string())
    });

    let instance = |holder: &Process, n: usize| -> u32 {
        let line = holder.nth_line_starting("instance pid ", n);
        let pid = line
            .trim_start_matches("instance pid ")
            .trim()
            .parse()
            .unwrap();
        holder.also_kill(pid);
        holder.nth_line("(socket passed by systemd)", n);
        pid
    };
    let mut pid = instance(&holder, 0);
    for n in 1..=RESTARTS {
        load.more_served(30);
        kill("TERM", pid);
        pid = instance(&holder, n);
        load.more_served(30);
    }
    let (served, failures) = load.finish();
    kill("TERM", pid);
    assert_eq!(holder.wait(), 0, "{}", holder.lines().join("\n"));
    println!(
        "{RESTARTS} restarts under load: {served} answered 200, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "refused, lost or not 200: {failures:?}"
    );
    // The settings reached every instance (systemd-socket-activate passes
    // on only what it is told to).
    assert_eq!(
        holder
            .lines()
            .iter()
            .filter(|l| l.contains("announce_delay=1s"))
            .count(),
        RESTARTS + 1,
        "{}",
        holder.lines().join("\n")
    );
    // Every instance stopped cleanly.
    assert_eq!(
        holder
            .lines()
            .iter()
            .filter(|l| l.contains("exit code 0"))
            .count(),
        RESTARTS + 1,
        "{}",
        holder.lines().join("\n")
    );
}

/// Client threads sending requests until stopped, tallying the `200`s and
/// everything else.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `clients` threads, each sending at most `max` requests with
    /// `request` (one made per thread by `client`), `pause` apart, for at
    /// most two minutes.
    fn start<R>(clients: usize, max: usize, pause: Duration, client: impl Fn() -> R) -> Load
    where
        R: FnMut() -> Result<u16, String> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failures: Arc<Mutex<Vec<String>>> = Arc::default();
        let started = Instant::now();
        let clients = (0..clients)
            .map(|_| {
                let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
                let mut request = client();
                std::thread::spawn(move || {
                    for _ in 0..max {
                        if stop.load(Ordering::Relaxed)
                            || started.elapsed() > Duration::from_secs(120)
                        {
                            break;
                        }
                        match request() {
                            Ok(200) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(status) => failures.lock().unwrap().push(format!("status {status}")),
                            Err(failure) => failures.lock().unwrap().push(failure),
                        }
                        std::thread::sleep(pause);
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            clients,
        }
    }

    /// Waits (bounded) until `at_least` more requests have been answered
    /// `200`.
    fn more_served(&self, at_least: usize) {
        let target = self.ok.load(Ordering::Relaxed) + at_least;
        let deadline = Instant::now() + BOUND;
        while self.ok.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "not served: {:?}",
                self.failures.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the clients; how many requests were answered `200`, and every
    /// other outcome.
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures)
    }
}

/// A keep-alive HTTP/1.1 client: requests on one connection until the
/// server says `Connection: close`, then on a new one.
struct KeepAlive {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

/// How a request failed: nothing sent (refused), sent and never answered
/// (lost: the connection closed; hung: no answer in time).
enum Failure {
    Refused(std::io::Error),
    Lost(String),
    Hung,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(error) => write!(f, "refused: {error}"),
            Failure::Lost(what) => write!(f, "lost: {what}"),
            Failure::Hung => f.write_str("hung: no answer in 10s"),
        }
    }
}

impl KeepAlive {
    /// One `GET /`: the status.
    fn get(&mut self) -> Result<u16, Failure> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))
                .map_err(Failure::Refused)?;
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().unwrap();
        let lost = |what: String| Failure::Lost(what);
        write!(
            reader.get_mut(),
            "GET / HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.addr
        )
        .map_err(|e| lost(format!("write: {e}")))?;
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) => {
                    self.stream = None;
                    return Err(lost(format!("closed after {} head lines", head.len())));
                }
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line.trim_end().to_ascii_lowercase()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    self.stream = None;
                    return Err(Failure::Hung);
                }
                Err(e) => {
                    self.stream = None;
                    return Err(lost(format!("read: {e}")));
                }
            }
        }
        let status = head
            .first()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| lost(format!("bad head {head:?}")))?;
        let length: usize = head
            .iter()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| lost(format!("no content-length in {head:?}")))?;
        let mut body = vec![0; length];
        reader
            .read_exact(&mut body)
            .map_err(|e| lost(format!("body: {e}")))?;
        if head.iter().any(|l| l == "connection: close") {
            self.stream = None;
        }
        Ok(status)
    }
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `pid=N` of a log line.
fn pid_in(line: &str) -> u32 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("pid="))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

#[test]
fn sighup_hands_off_under_keep_alive_load_with_nothing_refused_or_lost() {
    const CLIENTS: usize = 4;
    // Stands in for systemd's notify socket: the new main pid arrives here.
    let notify = NotifySocket::bind("handoff");
    let recv = || notify.recv();

    let mut command = command(env!("CARGO_BIN_EXE_{{project-name}}"));
    command
        .env("NOTIFY_SOCKET", &notify.path)
        .env("APP__SHUTDOWN__ANNOUNCE_DELAY", "1s")
        .env("APP__SHUTDOWN__TIMEOUT", "20s");
    let old = Process::start("service", command);
    let old_pid = old.id();
    assert_eq!(recv(), "READY=1\nSTATUS=serving\n");
    let addr = addr_of(&old.nth_line("listening on", 0));

    let load = Load::start(CLIENTS, usize::MAX, Duration::from_millis(2), || {
        let mut client = KeepAlive { addr, stream: None };
        move || client.get().map_err(|failure| failure.to_string())
    });

    load.more_served(50);
    kill("HUP", old_pid);
    let new_pid = pid_in(&old.nth_line("hand-off: the new process is ready", 0));
    old.also_kill(new_pid);
    assert_ne!(new_pid, old_pid);
    // systemd learns the new main pid from the old process, which then
    // sends nothing more (no STOPPING=1: the service is not stopping).
    assert_eq!(
        recv(),
        format!("MAINPID={new_pid}\nREADY=1\nSTATUS=handed off to pid {new_pid}\n")
    );
    assert_eq!(old.wait(), 0, "{}", old.lines().join("\n"));
    assert!(alive(new_pid), "the new process is gone");
    // Only the new process is left to answer.
    load.more_served(200);
    let (served, failures) = load.finish();

    // The new process stops on SIGTERM as usual, and tells systemd so.
    kill("TERM", new_pid);
    let stopping = recv();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let deadline = Instant::now() + BOUND;
    while alive(new_pid) {
        assert!(Instant::now() < deadline, "pid {new_pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "hand-off under keep-alive load: {served} answered 200, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "refused, lost, hung or not 200: {failures:?}");
    // Both processes ran their sequence to the end (the new one's output
    // goes where the old one's did).
    old.nth_line("exit code 0", 1);
    assert!(
        old.lines()
            .iter()
            .any(|l| l.contains("exit code 0") && l.contains("handed off to pid")),
        "{}",
        old.lines().join("\n")
    );
}

#[test]
fn a_new_process_that_fails_leaves_the_old_one_serving() {
    // A configuration the running process has loaded, then broken on disk:
    // the new process refuses it and exits at once.
    let config = unique_temp_path("handoff-config", "toml");
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&config)
        .expect("a new config file");
    file.write_all(good.as_bytes()).unwrap();
    drop(file);

    let mut command = command(env!("CARGO_BIN_EXE_{{project-name}}"));
    command
        .env("CONFIG_FILE", &config)
        .env("APP__SHUTDOWN__ANNOUNCE_DELAY", "0s");
    let old = Process::start("service", command);
    let addr = addr_of(&old.nth_line("listening on", 0));
    assert_eq!(get(addr, "/").expect("served"), 200);

    std::fs::write(&config, "[shutdown]\ntimeout = \"ten\"\n").unwrap();
    kill("HUP", old.id());
    let failed = old.nth_line("hand-off failed; this process keeps serving", 0);
    let _ = std::fs::remove_file(&config);
    assert!(failed.contains("exited before reporting ready"), "{failed}");
    // The new process said why (its output reaches the old one's on its
    // own pipe: waited for, not assumed to have arrived already).
    let why = old.nth_line("shutdown.timeout", 0);
    assert!(why.contains("configuration error"), "{why}");
    for _ in 0..20 {
        assert_eq!(get(addr, "/").expect("still served"), 200);
    }

    // Once shutting down, a SIGHUP starts no hand-off and does not end the
    // process: its sequence runs to the end. A queued job keeps it in its
    // sequence meanwhile (the worker finishes it before the exit).
    assert_eq!(request(addr, "POST", "/jobs?ms=3000").expect("queued"), 202);
    kill("TERM", old.id());
    old.nth_line("received SIGTERM: shutting down", 0);
    kill("HUP", old.id());
    assert_eq!(old.wait(), 0, "{}", old.lines().join("\n"));
    assert_eq!(
        old.count("SIGHUP: handing the listening socket"),
        1,
        "one hand-off, the failed one:\n{}",
        old.output()
    );
    old.nth_line("job done", 0);
}
