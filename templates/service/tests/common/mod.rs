//! What the process tests share: the service's command line, and a child
//! process whose output lines are collected, awaited with a bound, and
//! killed if a test fails half-way.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a process may take to print an awaited line.
pub const BOUND: Duration = Duration::from_secs(30);
/// How long a process may take to exit once asked to.
pub const EXIT_BOUND: Duration = Duration::from_secs(60);

/// `program` (the service, or a baseline) with the settings every test
/// shares: a port of its own, plain-text logs at `info`, and none of the
/// service's settings of the environment the tests run in (its `APP__…`
/// variables, `CONFIG_FILE`, `KUBERNETES_SERVICE_HOST`, systemd's).
pub fn service_command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| name.to_ascii_uppercase().starts_with("APP__"))
        {
            command.env_remove(name);
        }
    }
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CONFIG_FILE")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("WINDDOWN_HANDOFF_SOCKET")
        .env_remove("WINDDOWN_HANDOFF_PID")
        .env("APP__SERVER__ADDR", "127.0.0.1:0")
        .env("APP__LOG__FORMAT", "text")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID");
    command
}

/// No final metrics export to wait for at the exit.
pub fn no_metrics_flush(command: &mut Command) -> &mut Command {
    command
        .env("APP__METRICS__LINGER", "0s")
        .env("APP__METRICS__PUSHGATEWAY", "")
        .env("APP__METRICS__TEXTFILE", "")
}

/// Sends `signal` to `pid` with kill(1).
pub fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A line of output, and whether it came on stdout.
struct Line {
    text: String,
    stdout: bool,
}

/// A child whose stdout and stderr lines are collected (and echoed to the
/// test's stderr, after its name); killed by pid, with the processes it is
/// told of, if the test fails half-way.
pub struct Process {
    name: String,
    // In a mutex so that waiting for a line (`&self`) can tell whether the
    // process has exited.
    child: Mutex<Child>,
    lines: Arc<Mutex<Vec<Line>>>,
    readers: Vec<JoinHandle<()>>,
    /// Lines before this one have been passed by [`next_line`](Self::next_line).
    cursor: usize,
    also_kill: Mutex<Vec<u32>>,
}

impl Process {
    /// Starts `command` with stdin closed and its output collected.
    pub fn start(name: &str, mut command: Command) -> Process {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        let readers = [(out, true), (err, false)]
            .into_iter()
            .map(|(stream, stdout)| {
                let (lines, name) = (lines.clone(), name.to_owned());
                std::thread::spawn(move || {
                    for text in BufReader::new(stream).lines().map_while(Result::ok) {
                        eprintln!("{name} | {text}");
                        lines.lock().unwrap().push(Line { text, stdout });
                    }
                })
            })
            .collect();
        Process {
            name: name.to_owned(),
            child: Mutex::new(child),
            lines,
            readers,
            cursor: 0,
            also_kill: Mutex::default(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Every line so far, stdout and stderr as they came.
    pub fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|line| line.text.clone()).collect()
    }

    /// The stdout lines so far.
    pub fn stdout(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|line| line.stdout)
            .map(|line| line.text.clone())
            .collect()
    }

    /// Every line so far, one per line.
    pub fn output(&self) -> String {
        self.lines().join("\n")
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits (bounded) for the `n`th line (from 0) containing `needle`.
    pub fn nth_line(&self, needle: &str, n: usize) -> String {
        self.nth_matching(needle, n, |line| line.contains(needle))
    }

    /// Waits (bounded) for the `n`th line (from 0) starting with `prefix`.
    pub fn nth_line_starting(&self, prefix: &str, n: usize) -> String {
        self.nth_matching(prefix, n, |line| line.starts_with(prefix))
    }

    /// Waits (bounded) for the `n`th line (from 0) that `matches`.
    fn nth_matching(&self, what: &str, n: usize, matches: impl Fn(&str) -> bool) -> String {
        self.await_line(what, |lines| {
            lines.iter().filter(|line| matches(line)).nth(n).cloned()
        })
    }

    /// Waits (bounded) until more than `seen` lines contain `needle`; the
    /// last of them.
    pub fn line_after(&self, needle: &str, seen: usize) -> String {
        self.await_line(needle, |lines| {
            let matching: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
            (matching.len() > seen).then(|| matching[matching.len() - 1].clone())
        })
    }

    /// Waits (bounded) for the next line containing `needle` after the
    /// last one this returned.
    pub fn next_line(&mut self, needle: &str) -> String {
        let from = self.cursor;
        let (index, line) = self.await_line(needle, |lines| {
            lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, line)| line.contains(needle))
                .map(|(i, line)| (i, line.clone()))
        });
        self.cursor = index + 1;
        line
    }

    /// Polls `find` over the lines until it finds something, for at most
    /// [`BOUND`].
    fn await_line<T>(&self, needle: &str, find: impl Fn(&[String]) -> Option<T>) -> T {
        let deadline = Instant::now() + BOUND;
        loop {
            let lines = self.lines();
            if let Some(found) = find(&lines) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} printed no line with {needle:?} within {BOUND:?} ({}):\n{}",
                self.name,
                match self.exit_status() {
                    Some(status) => format!("it exited: {status}"),
                    None => "still running".to_owned(),
                },
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Its exit status, if it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child.lock().unwrap().try_wait().expect("try_wait")
    }

    /// Sends it `signal`.
    pub fn signal(&self, signal: &str) {
        kill(signal, self.id());
    }

    /// Kills `pid` too if the test fails half-way (an instance it started).
    pub fn also_kill(&self, pid: u32) {
        self.also_kill.lock().unwrap().push(pid);
    }

    /// Waits (bounded) for the exit; its code.
    pub fn wait(&self) -> i32 {
        let deadline = Instant::now() + EXIT_BOUND;
        loop {
            if let Some(status) = self.exit_status() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {EXIT_BOUND:?}:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded) for the exit and for its output to end; the code
    /// and every line.
    pub fn wait_output(&self) -> (i32, String) {
        let code = self.wait();
        let deadline = Instant::now() + Duration::from_secs(2);
        while !self.readers.iter().all(JoinHandle::is_finished) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        (code, self.output())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The other instances only on a failure: after a pass they have
        // exited, and their pids may belong to other processes by now.
        let others = if std::thread::panicking() {
            std::mem::take(&mut *self.also_kill.lock().unwrap())
        } else {
            Vec::new()
        };
        for pid in &others {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        // Child::kill sends SIGKILL to this child's pid, nothing else.
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A stamp no other test run shares: this process's id and the time.
pub fn unique_stamp() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
