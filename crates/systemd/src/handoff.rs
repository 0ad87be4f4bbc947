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
//!    [`HANDOFF_SOCKET_ENV`]. The wait is bounded
//!    ([`Handoff::ready_timeout`]).
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
use winddown_core::{Reason, Shutdown};

pub use error::HandoffError;

/// The variable naming the unix datagram socket a new process reports
/// `READY=1` to during a hand-off (read by
/// [`Notifier::ready`](crate::Notifier::ready)).
pub const HANDOFF_SOCKET_ENV: &str = "WINDDOWN_HANDOFF_SOCKET";

/// The default bound on the new process becoming ready.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The descriptor the listening socket has in the new process
/// (`SD_LISTEN_FDS_START`).
const LISTEN_FD: i32 = 3;

/// Sets `LISTEN_PID` to the new process's id, which is known only once it
/// runs: the shell's `$$`, kept by `exec`.
const SET_LISTEN_PID: &str = "LISTEN_PID=$$; export LISTEN_PID; exec \"$0\" \"$@\"";

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
            .arg(SET_LISTEN_PID)
            .arg(&program)
            .args(&args)
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("LISTEN_FDS_FIRST_FD")
            .env(HANDOFF_SOCKET_ENV, &socket_path)
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
            program = %program.display(),
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
