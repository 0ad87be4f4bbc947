//! Running the examples as real child processes.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The directory cargo puts example binaries in, next to this test's binary.
pub fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
}

#[derive(Default)]
struct Lines {
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// How many of the two readers have reached the end of their pipe.
    ended: usize,
}

/// What the examples read from the environment besides what a test sets:
/// removed from every child's environment, so that the runner's (a `PORT`
/// or `APP__…` of a CI image, a runner inside a Kubernetes pod or under
/// systemd) never reaches the child.
const NOT_INHERITED: &[&str] = &[
    "KUBERNETES_SERVICE_HOST",
    "PORT",
    "ADDR",
    "CONFIG_FILE",
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDS_FIRST_FD",
    "LISTEN_FDNAMES",
    "WINDDOWN_HANDOFF_SOCKET",
    "WINDDOWN_HANDOFF_PID",
    "SLOW_MS",
    "JOBS",
    "DB_PATH",
    "SERVER",
    "TIMEOUT_MS",
    "BLOCK_MS",
    "REACT_TIMEOUT_MS",
    "GLOBAL_TIMEOUT_MS",
    "HANG_TIMEOUT_MS",
    "IGNORE_TIMEOUT_MS",
    "ANNOUNCE_MS",
    "DRAIN_TIMEOUT_MS",
];

/// `program` with none of the runner's settings for the examples in its
/// environment (see [`NOT_INHERITED`], and every `APP__…` variable): the
/// test sets what the child gets.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for name in NOT_INHERITED {
        cmd.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| name.to_ascii_uppercase().starts_with("APP__"))
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A child process whose output lines are collected as they arrive.
pub struct Child {
    child: Mutex<std::process::Child>,
    lines: Arc<(Mutex<Lines>, Condvar)>,
    exited_at: Mutex<Option<Instant>>,
    pub pid: u32,
}

impl Child {
    /// Starts `target/<profile>/examples/<name>` with extra environment.
    pub fn example(name: &str, env: &[(&str, &str)]) -> Child {
        let path = examples_dir().join(name);
        assert!(
            path.exists(),
            "{} is missing: run through `cargo test`, which builds the examples",
            path.display()
        );
        // The child's environment is the test's to decide: a runner inside a
        // Kubernetes pod must not give every child a 5 s announce delay.
        let mut cmd = command(path);
        cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Child::spawn(cmd)
    }

    /// Starts a command with piped output.
    pub fn spawn(mut cmd: Command) -> Child {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn child");
        let lines: Arc<(Mutex<Lines>, Condvar)> = Arc::default();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (is_out, reader) in [
            (true, Box::new(stdout) as Box<dyn std::io::Read + Send>),
            (false, Box::new(stderr)),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                let (lock, cvar) = &*lines;
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    let mut l = lock.lock().unwrap();
                    if is_out {
                        l.stdout.push(line);
                    } else {
                        l.stderr.push(line);
                    }
                    cvar.notify_all();
                }
                lock.lock().unwrap().ended += 1;
                cvar.notify_all();
            });
        }
        Child {
            pid: child.id(),
            child: Mutex::new(child),
            lines,
            exited_at: Mutex::new(None),
        }
    }

    /// Waits until a stdout or stderr line contains `needle`; returns it.
    pub fn expect_line(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let (lock, cvar) = &*self.lines;
        let mut l = lock.lock().unwrap();
        loop {
            if let Some(found) = l
                .stdout
                .iter()
                .chain(l.stderr.iter())
                .find(|x| x.contains(needle))
            {
                return found.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no line containing {needle:?} within {within:?}\nstdout:\n{}\nstderr:\n{}",
                    l.stdout.join("\n"),
                    l.stderr.join("\n")
                );
            }
            l = cvar.wait_timeout(l, deadline - now).unwrap().0;
        }
    }

    /// Sends a real signal (`TERM`, `INT`, …) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed", self.pid);
    }

    /// Once the child has exited: waits until both readers have read their
    /// pipe to its end, so that every line the child wrote is collected
    /// (bounded: a grandchild that kept the pipes open would hold them).
    fn wait_for_output(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (lock, cvar) = &*self.lines;
        let mut l = lock.lock().unwrap();
        while l.ended < 2 {
            let now = Instant::now();
            assert!(
                now < deadline,
                "the child's output did not end within 10 s of its exit"
            );
            l = cvar.wait_timeout(l, deadline - now).unwrap().0;
        }
    }

    /// Waits for the exit; kills the child and fails if it takes longer.
    pub fn wait(&self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.lock().unwrap().try_wait().expect("try_wait") {
                *self.exited_at.lock().unwrap() = Some(Instant::now());
                self.wait_for_output();
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.lock().unwrap().kill();
                panic!(
                    "child did not exit within {within:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout_lines().join("\n"),
                    self.stderr_lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// When [`wait`](Self::wait) saw the process exit (within ~2 ms).
    pub fn exited_at(&self) -> Option<Instant> {
        *self.exited_at.lock().unwrap()
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().stdout.clone()
    }

    /// Every stderr line so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().stderr.clone()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
