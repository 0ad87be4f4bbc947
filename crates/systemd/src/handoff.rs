//! Hand-off restart: a new process of the service takes over the listening
//! socket, and this one stops once the new one is ready.
//!
//! The same socket stays open from one process to the next, so no client
//! is refused while the service restarts, even without socket activation:
//!
//! 1. [`Handoff::hand_off`] (on `SIGHUP`, with [`Handoff::on_sighup`])
//!    starts the program again with the listening socket as descriptor 3
//!    (`LISTEN_FDS=1`, `LISTEN_PID` = the new pid, sd_listen_fds(3)), so
//!    that its [`tcp_listener_from_env`](crate::tcp_listener_from_env)
//!    finds it.
//! 2. The new process accepts on the socket alongside this one and reports
//!    `READY=1` with [`Notifier::ready`](crate::Notifier::ready), over a
//!    unix datagram socket in a private directory named by
//!    [`HANDOFF_SOCKET_ENV`] (with [`HANDOFF_PID_ENV`] its pid, so that
//!    the processes it starts later, which inherit both, notify systemd
//!    instead). The wait is bounded ([`Handoff::ready_timeout`]). Like
//!    `LISTEN_PID`, the pid is the one the program is started with: a
//!    launcher must `exec` the service, not start it as a child.
//! 3. Under systemd (`NOTIFY_SOCKET`), the service manager is told
//!    `MAINPID=` the new pid; this process sends it nothing more.
//! 4. The shutdown is triggered with [`Reason::HandedOff`]: the server stops
//!    accepting at once and leaves the queued connections to the new
//!    process (`winddown_server::Server` does so for this reason), then the
//!    normal sequence runs (announce with `Connection: close` and HTTP/2
//!    GOAWAY, drain, hooks, exit).
//!
//! If the new process exits, or is not ready in time, it is stopped (when
//! still running) and this one keeps serving; the error says why. Give the
//! shutdown an announce delay (a second is plenty on one machine) so that
//! keep-alive clients get their `Connection: close` before draining starts.
//!
//! Unix only.
//!
//! # Examples
//!
//! ```no_run
//! use winddown_core::Shutdown;
//! use winddown_systemd::handoff::Handoff;
//! use winddown_systemd::{Notifier, tcp_listener_from_env};
//!
//! fn main() -> std::io::Result<()> {
//!     // A socket handed over by the previous process (or by systemd).
//!     let inherited = tcp_listener_from_env()?;
//!     tokio::runtime::Runtime::new()?.block_on(async {
//!         let shutdown = Shutdown::new();
//!         shutdown.listen_for_signals()?;
//!         let listener = match inherited {
//!             Some(inherited) => tokio::net::TcpListener::from_std(inherited)?,
//!             None => tokio::net::TcpListener::bind("127.0.0.1:8080").await?,
//!         };
//!         // SIGHUP restarts the service without refusing a connection.
//!         Handoff::new(shutdown.clone(), &listener)?.on_sighup()?;
//!         // READY=1, to the previous process or to systemd.
//!         Notifier::new(shutdown.clone()).spawn();
//!         let report = shutdown
//!             .run_until(async move {
//!                 // serve on `listener` here
//!                 # drop(listener);
//!                 std::future::pending::<std::io::Result<()>>().await
//!             })
//!             .await;
//!         std::process::exit(report.exit_code());
//!     })
//! }
//! ```

mod error;

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use tokio::net::UnixDatagram;
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;
use tracing::{info, warn};
use winddown_core::{Reason, Shutdown, text};

pub use error::HandoffError;

/// The variable naming the unix datagram socket a new process reports
/// `READY=1` to during a hand-off (read by
/// [`Notifier::ready`](crate::Notifier::ready)).
///
/// ```
/// assert_eq!(winddown_systemd::handoff::HANDOFF_SOCKET_ENV, "WINDDOWN_HANDOFF_SOCKET");
/// ```
pub const HANDOFF_SOCKET_ENV: &str = "WINDDOWN_HANDOFF_SOCKET";

/// The variable naming the process that reports to
/// [`HANDOFF_SOCKET_ENV`]: the new process of a hand-off, like
/// `LISTEN_PID`. [`Notifier::ready`](crate::Notifier::ready) in any other
/// process (one that inherited the variables) ignores the hand-off socket
/// and notifies `NOTIFY_SOCKET`. Without it (a process handing off from an
/// earlier version of this crate), the hand-off socket is used.
///
/// ```
/// assert_eq!(winddown_systemd::handoff::HANDOFF_PID_ENV, "WINDDOWN_HANDOFF_PID");
/// ```
pub const HANDOFF_PID_ENV: &str = "WINDDOWN_HANDOFF_PID";

/// The default bound on the new process becoming ready.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The descriptor the listening socket has in the new process
/// (`SD_LISTEN_FDS_START`).
const LISTEN_FD: i32 = 3;

/// Sets `LISTEN_PID` and [`HANDOFF_PID_ENV`] to the new process's id,
/// which is known only once it runs: the shell's `$$`, kept by `exec`.
const SET_PIDS: &str = "LISTEN_PID=$$; WINDDOWN_HANDOFF_PID=$$; \
                        export LISTEN_PID WINDDOWN_HANDOFF_PID; exec \"$0\" \"$@\"";

/// Starts a new process of the service with the listening socket and stops
/// this one once it is ready; see the [module docs](self).
///
/// Cheap to clone; clones hand off the same socket.
#[derive(Debug, Clone)]
#[must_use = "call .hand_off() or .on_sighup()"]
pub struct Handoff {
    shutdown: Shutdown,
    listener: std::sync::Arc<OwnedFd>,
    ready_timeout: Duration,
    program: Option<PathBuf>,
    args: Option<Vec<OsString>>,
}

impl Handoff {
    /// A hand-off of `listener` (a listening socket: a tokio or std
    /// `TcpListener`, anything with a descriptor) that stops `shutdown` once
    /// the new process is ready. The new process is this program, started
    /// with this process's arguments and environment.
    ///
    /// # Errors
    ///
    /// When the descriptor cannot be duplicated (out of descriptors).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let handoff = winddown_systemd::handoff::Handoff::new(shutdown, &listener)?;
    /// # drop(handoff);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(shutdown: Shutdown, listener: &impl AsFd) -> io::Result<Handoff> {
        Ok(Handoff {
            shutdown,
            listener: std::sync::Arc::new(listener.as_fd().try_clone_to_owned()?),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            program: None,
            args: None,
        })
    }

    /// How long the new process may take to report ready (default 30 s).
    /// It is stopped (`SIGTERM`, then `SIGKILL` after a second) when it has
    /// not by then, and this process keeps serving.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let handoff = winddown_systemd::handoff::Handoff::new(shutdown, &listener)?
    ///     .ready_timeout(Duration::from_secs(10));
    /// # drop(handoff);
    /// # Ok(())
    /// # }
    /// ```
    pub fn ready_timeout(mut self, timeout: Duration) -> Handoff {
        self.ready_timeout = timeout;
        self
    }

    /// The program to start and its arguments (default: this program's
    /// path, without the ` (deleted)` Linux adds once the file has been
    /// replaced, and this process's arguments), for a launcher or a binary
    /// installed elsewhere.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let handoff = winddown_systemd::handoff::Handoff::new(shutdown, &listener)?
    ///     .program("/usr/local/bin/my-svc", ["--serve"]);
    /// # drop(handoff);
    /// # Ok(())
    /// # }
    /// ```
    pub fn program<I, A>(mut self, program: impl Into<PathBuf>, args: I) -> Handoff
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.program = Some(program.into());
        self.args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Starts the new process, waits until it is ready, then triggers the
    /// shutdown with [`Reason::HandedOff`] (after telling systemd the new
    /// main pid, under systemd). Returns the new process's id.
    ///
    /// Not cancel safe: dropping the future while it waits leaves the new
    /// process running.
    ///
    /// # Errors
    ///
    /// When the shutdown has already started (or starts meanwhile: the new
    /// process is then stopped), the new process cannot be started, exits,
    /// or is not ready within the [ready timeout](Self::ready_timeout). This
    /// process then goes on serving.
    ///
    /// ```
    /// use winddown_systemd::handoff::{Handoff, HandoffError};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let handoff = Handoff::new(shutdown.clone(), &listener)?;
    /// // Once shutdown has started there is nothing left to hand off.
    /// shutdown.trigger();
    /// let error = handoff.hand_off().await.unwrap_err();
    /// assert!(matches!(error, HandoffError::ShuttingDown(_)));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn hand_off(&self) -> Result<u32, HandoffError> {
        if let Some(reason) = self.shutdown.reason() {
            return Err(HandoffError::ShuttingDown(reason));
        }
        let program = match &self.program {
            Some(program) => program.clone(),
            None => current_exe().map_err(HandoffError::Start)?,
        };
        let args: Vec<OsString> = match &self.args {
            Some(args) => args.clone(),
            None => std::env::args_os().skip(1).collect(),
        };
        // A private directory (mode 0700, a new random name): only this
        // user can report ready there, and nothing planted is followed.
        let dir = tempfile::Builder::new()
            .prefix("winddown-handoff-")
            .tempdir()
            .map_err(HandoffError::Start)?;
        let socket_path = dir.path().join("ready.sock");
        let ready = UnixDatagram::bind(&socket_path).map_err(HandoffError::Start)?;

        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(SET_PIDS)
            .arg(&program)
            .args(&args)
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("LISTEN_FDS_FIRST_FD")
            .env(HANDOFF_SOCKET_ENV, &socket_path)
            .env_remove(HANDOFF_PID_ENV)
            .stdin(Stdio::null())
            .kill_on_drop(false);
        let fd = self.listener.try_clone().map_err(HandoffError::Start)?;
        command
            .fd_mappings(vec![FdMapping {
                parent_fd: fd,
                child_fd: LISTEN_FD,
            }])
            .map_err(|error| HandoffError::Start(io::Error::other(error)))?;
        let mut child = command.spawn().map_err(HandoffError::Start)?;
        // The socket's copy for the child goes with the command.
        drop(command);
        let Some(pid) = child.id() else {
            return Err(HandoffError::Exited(
                child.wait().await.map_err(HandoffError::Start)?,
            ));
        };
        info!(
            target: "winddown",
            pid,
            program = %text::escaped(&program.to_string_lossy()),
            timeout = ?self.ready_timeout,
            "hand-off: started a new process with the listening socket; waiting for it to be ready"
        );

        let outcome = tokio::select! {
            result = wait_ready(&ready) => result.map_err(HandoffError::Start),
            status = child.wait() => Err(match status {
                Ok(status) => HandoffError::Exited(status),
                Err(error) => HandoffError::Start(error),
            }),
            () = tokio::time::sleep(self.ready_timeout) => Err(HandoffError::NotReady(self.ready_timeout)),
            () = self.shutdown.triggered() => Err(HandoffError::ShuttingDown(
                self.shutdown.reason().unwrap_or(Reason::Manual),
            )),
        };
        drop(ready);
        drop(dir);
        if let Err(error) = outcome {
            stop(&mut child, pid).await;
            return Err(error);
        }

        crate::notify::hand_over(pid);
        if !self.shutdown.trigger_with(Reason::HandedOff { pid }) {
            warn!(
                target: "winddown",
                pid,
                "hand-off: the shutdown had started meanwhile; the new process keeps serving"
            );
        }
        info!(target: "winddown", pid, "hand-off: the new process is ready; stopping this one");
        Ok(pid)
    }

    /// Installs a `SIGHUP` handler now (from here on `SIGHUP` no longer
    /// ends the process) and spawns a task that runs
    /// [`hand_off`](Self::hand_off) at each `SIGHUP`. A `SIGHUP` during a
    /// hand-off, or after one succeeded, is ignored with a log line; a
    /// failed hand-off is logged and this process keeps serving. Once the
    /// shutdown has started the task ends, and `SIGHUP` is ignored (the
    /// handler stays installed, so it never ends the process).
    ///
    /// # Errors
    ///
    /// When the signal handler cannot be installed.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with I/O and time enabled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let task = winddown_systemd::handoff::Handoff::new(shutdown.clone(), &listener)?
    ///     .on_sighup()?;
    /// shutdown.trigger();
    /// task.await.unwrap();
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_sighup(self) -> io::Result<JoinHandle<()>> {
        let mut hangups = signal(SignalKind::hangup())?;
        Ok(tokio::spawn(async move {
            loop {
                tokio::select! {
                    // A SIGHUP that comes with the trigger starts no
                    // hand-off.
                    biased;
                    () = self.shutdown.triggered() => return,
                    received = hangups.recv() => if received.is_none() { return },
                }
                info!(target: "winddown", "SIGHUP: handing the listening socket to a new process");
                let attempt = self.hand_off();
                tokio::pin!(attempt);
                let result = loop {
                    tokio::select! {
                        result = &mut attempt => break result,
                        Some(()) = hangups.recv() => {
                            warn!(target: "winddown", "SIGHUP ignored: a hand-off is in progress");
                        }
                    }
                };
                match result {
                    Ok(_) => break,
                    Err(HandoffError::ShuttingDown(_)) => break,
                    Err(error) => {
                        warn!(target: "winddown", %error, "hand-off failed; this process keeps serving");
                    }
                }
            }
            // Shutting down: hand-offs are over, but SIGHUP must not end
            // the process before its sequence does.
            while hangups.recv().await.is_some() {
                warn!(target: "winddown", "SIGHUP ignored: shutting down");
            }
        }))
    }
}

/// The socket [`Notifier::ready`](crate::Notifier::ready) reports to when
/// this process is the new process of a hand-off: [`HANDOFF_SOCKET_ENV`]
/// when [`HANDOFF_PID_ENV`] names this process (or is not set).
///
/// # Errors
///
/// When [`HANDOFF_PID_ENV`] is set but is not a process id.
pub(crate) fn ready_socket() -> io::Result<Option<PathBuf>> {
    let Some(path) = std::env::var_os(HANDOFF_SOCKET_ENV) else {
        return Ok(None);
    };
    let Some(pid) = std::env::var_os(HANDOFF_PID_ENV) else {
        return Ok(Some(PathBuf::from(path)));
    };
    match pid.to_str().and_then(|pid| pid.parse::<u32>().ok()) {
        Some(pid) if pid == std::process::id() => Ok(Some(PathBuf::from(path))),
        Some(_) => Ok(None),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{HANDOFF_PID_ENV}=\"{}\" is invalid; expected the id of the new process of a \
                 hand-off (this process: {})",
                text::escaped(&pid.to_string_lossy()),
                std::process::id()
            ),
        )),
    }
}

/// Waits for a datagram with a `READY=1` line. Cancel safe.
async fn wait_ready(socket: &UnixDatagram) -> io::Result<()> {
    let mut buf = vec![0; 4096];
    loop {
        let len = socket.recv(&mut buf).await?;
        let message = String::from_utf8_lossy(&buf[..len]);
        if message.lines().any(|line| line == "READY=1") {
            return Ok(());
        }
    }
}

/// Stops a new process that failed its hand-off: `SIGTERM`, then
/// `SIGKILL` after a second; reaps it.
async fn stop(child: &mut Child, pid: u32) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let terminated = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| {
            rustix::process::kill_process(pid, rustix::process::Signal::TERM).is_ok()
        });
    if terminated
        && let Ok(status) = tokio::time::timeout(Duration::from_secs(1), child.wait()).await
    {
        log_stopped(pid, status);
        return;
    }
    let _ = child.start_kill();
    log_stopped(pid, child.wait().await);
}

fn log_stopped(pid: u32, status: io::Result<ExitStatus>) {
    match status {
        Ok(status) => info!(target: "winddown", pid, %status, "hand-off: stopped the new process"),
        Err(error) => {
            warn!(target: "winddown", pid, %error, "hand-off: cannot reap the new process")
        }
    }
}

/// This program's path; Linux adds ` (deleted)` once the file has been
/// replaced, as an upgrade does: the new file at the same path is meant.
fn current_exe() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(path) => Ok(PathBuf::from(path)),
        None => Ok(exe),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::net::TcpListener;
    use winddown_core::{Reason, Shutdown};
    use winddown_testkit::LogCapture;

    use super::{HANDOFF_PID_ENV, HANDOFF_SOCKET_ENV, Handoff, HandoffError};
    use crate::test_child::{self, MODE};
    use crate::{Notifier, tcp_listener_from_env};

    const CHILD_MODE: &str = "handoff::tests::child_mode";

    fn ready() -> String {
        let shutdown = Shutdown::builder().no_signals().build();
        match Notifier::new(shutdown).ready() {
            Ok(sent) => format!("ok sent={sent}"),
            Err(error) => format!("err {:?} {error}", error.kind()),
        }
    }

    /// Child mode only. `handed-off`: the new process of a hand-off takes
    /// the socket, reports ready, then starts a process of its own
    /// (`started`) that reports ready too.
    #[test]
    fn child_mode() {
        match std::env::var(MODE).as_deref() {
            Ok("handed-off") => {
                match tcp_listener_from_env() {
                    Ok(Some(listener)) => {
                        println!("RESULT listener {}", listener.local_addr().unwrap())
                    }
                    other => println!("RESULT listener {other:?}"),
                }
                println!("RESULT ready {}", ready());
                let output = std::process::Command::new(std::env::current_exe().unwrap())
                    .args(test_child::child_args(CHILD_MODE))
                    .env(MODE, "started")
                    .output()
                    .unwrap();
                print!("{}", String::from_utf8_lossy(&output.stdout));
                println!("RESULT done");
            }
            Ok("started") => println!("RESULT started ready {}", ready()),
            _ => {}
        }
    }

    /// Waits (at most 30 s) until the file at `path` has a line with
    /// `needle`; its text.
    async fn written(path: &std::path::Path, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.contains(needle) {
                return text;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in:\n{text}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The new process of a hand-off reports ready to the process handing
    /// off; a process it starts afterwards inherits the variables, and
    /// used to report to the hand-off's socket, gone by then, instead of
    /// systemd.
    #[tokio::test]
    async fn a_process_started_by_the_new_process_notifies_systemd_not_the_hand_off() {
        let dir = tempfile::tempdir().unwrap();
        let notify = dir.path().join("notify.sock");
        let manager = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
        manager
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let out = dir.path().join("new.out");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = Shutdown::builder().no_signals().build();
        // The new process: this test binary in child mode, with systemd's
        // socket (for the new process only: this one has none to notify
        // of the new main pid).
        let script = format!(
            "NOTIFY_SOCKET=\"$1\" {MODE}=handed-off exec \"$0\" {} > \"$2\" 2>&1",
            test_child::child_args(CHILD_MODE).join(" ")
        );
        let exe = std::env::current_exe().unwrap();
        let pid = Handoff::new(shutdown.clone(), &listener)
            .unwrap()
            .program(
                "/bin/sh",
                [
                    "-c".as_ref(),
                    script.as_ref(),
                    exe.as_os_str(),
                    notify.as_os_str(),
                    out.as_os_str(),
                ],
            )
            .ready_timeout(Duration::from_secs(30))
            .hand_off()
            .await
            .unwrap();
        assert_eq!(shutdown.reason(), Some(Reason::HandedOff { pid }));

        let report = written(&out, "RESULT done").await;
        let addr = listener.local_addr().unwrap();
        assert!(
            report.contains(&format!("RESULT listener {addr}\n")),
            "{report}"
        );
        assert!(report.contains("RESULT ready ok sent=true\n"), "{report}");
        assert!(
            report.contains("RESULT started ready ok sent=true\n"),
            "{report}"
        );
        let mut buf = [0; 4096];
        let received = manager
            .recv(&mut buf)
            .map(|len| String::from_utf8_lossy(&buf[..len]).into_owned());
        assert_eq!(
            received.as_deref().ok(),
            Some("READY=1\nSTATUS=serving\n"),
            "{received:?}\n{report}"
        );
    }

    #[test]
    fn the_hand_off_socket_is_used_by_the_process_named_only() {
        let dir = tempfile::tempdir().unwrap();
        let handoff = dir.path().join("ready.sock");
        let handoff_socket = std::os::unix::net::UnixDatagram::bind(&handoff).unwrap();
        let notify = dir.path().join("notify.sock");
        let manager = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
        let (handoff, notify) = (handoff.to_str().unwrap(), notify.to_str().unwrap());
        let run = |env: &[(&str, &str)]| {
            let (status, output) = test_child::run(CHILD_MODE, "started", env, None);
            assert!(status.success(), "{output}");
            output
        };
        let recv = |socket: &std::os::unix::net::UnixDatagram| {
            socket
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let mut buf = [0; 4096];
            let len = socket.recv(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..len]).into_owned()
        };

        // Another process's hand-off (pid 1 is never a test's child):
        // systemd is told.
        let output = run(&[
            ("NOTIFY_SOCKET", notify),
            (HANDOFF_SOCKET_ENV, handoff),
            (HANDOFF_PID_ENV, "1"),
        ]);
        assert!(
            output.contains("RESULT started ready ok sent=true"),
            "{output}"
        );
        assert_eq!(recv(&manager), "READY=1\nSTATUS=serving\n");

        // Without the pid (a hand-off from an earlier version): the hand-off.
        let output = run(&[("NOTIFY_SOCKET", notify), (HANDOFF_SOCKET_ENV, handoff)]);
        assert!(
            output.contains("RESULT started ready ok sent=true"),
            "{output}"
        );
        assert_eq!(recv(&handoff_socket), "READY=1\nSTATUS=serving\n");

        let output = run(&[
            ("NOTIFY_SOCKET", notify),
            (HANDOFF_SOCKET_ENV, handoff),
            (HANDOFF_PID_ENV, "12\n34"),
        ]);
        assert!(
            output.contains(
                "RESULT started ready err InvalidInput WINDDOWN_HANDOFF_PID=\"12\\n34\" is \
                 invalid; expected the id of the new process of a hand-off"
            ),
            "{output}"
        );
    }

    /// The program's path reaches the log: escaped, it cannot forge a line.
    #[test]
    fn the_program_is_logged_escaped() {
        let logs = LogCapture::default();
        let _default = tracing::subscriber::set_default(logs.subscriber());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let program = dir.path().join("svc\nINFO forged");
            std::os::unix::fs::symlink("/bin/false", &program).unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let shutdown = Shutdown::builder().no_signals().build();
            let error = Handoff::new(shutdown.clone(), &listener)
                .unwrap()
                .program(&program, Vec::<String>::new())
                .hand_off()
                .await
                .unwrap_err();
            assert!(matches!(error, HandoffError::Exited(_)), "{error}");
            let text = logs.text();
            assert!(text.contains(r"/svc\nINFO forged"), "{text}");
            assert!(
                !text.lines().any(|l| l.starts_with("INFO forged")),
                "{text}"
            );
        });
    }
}
