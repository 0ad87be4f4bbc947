//! sd_notify(3): telling the service manager what the shutdown is doing.

use std::fmt;
use std::io;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};
use winddown_core::{Reason, Shutdown, State};

/// The default time added to the remaining deadline in
/// `EXTEND_TIMEOUT_USEC`: what the process still does after the deadline
/// (closing connections, exiting).
pub const DEFAULT_EXTEND_MARGIN: Duration = Duration::from_secs(2);

/// Tells systemd what a [`Shutdown`] is doing, over the socket named by
/// `NOTIFY_SOCKET` (sd_notify(3)); does nothing when it is not set.
///
/// | when | message |
/// |---|---|
/// | [`ready`](Self::ready), once the listener is bound | `READY=1`, `STATUS=serving` |
/// | the trigger | `STOPPING=1`, `EXTEND_TIMEOUT_USEC=`, `STATUS=announcing (…)` |
/// | draining starts | `EXTEND_TIMEOUT_USEC=`, `STATUS=draining (…)` |
/// | cleanup starts | `EXTEND_TIMEOUT_USEC=`, `STATUS=cleanup (…)` |
/// | done | `EXTEND_TIMEOUT_USEC=`, `STATUS=done, exiting` |
///
/// `EXTEND_TIMEOUT_USEC` is the time left until the shutdown's global
/// deadline plus a [margin](Self::extend_margin), so that a stop timeout
/// (`TimeoutStopSec`) shorter than the shutdown budget does not kill the
/// process while it drains. Use `Type=notify` in the unit.
///
/// `NOTIFY_SOCKET` is read each time a message is sent: the absolute path
/// of a unix datagram socket, or `@name`, a name in the Linux abstract
/// namespace (sd_notify(3)). A message that cannot be sent is logged
/// (once) and the rest of the sequence goes on.
///
/// # Examples
///
/// ```
/// use winddown_core::Shutdown;
/// use winddown_systemd::Notifier;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// # // Run as a test under a service manager: notify nobody.
/// # if std::env::var_os("NOTIFY_SOCKET").is_some() { return; }
/// let shutdown = Shutdown::builder().no_signals().build();
/// // Bind the listener first, then:
/// let notifier = Notifier::new(shutdown.clone()).spawn();
/// shutdown.trigger();
/// let report = shutdown.run().await;
/// notifier.await.unwrap();
/// assert_eq!(report.exit_code(), 0);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "call .spawn() or .follow() to send the notifications"]
pub struct Notifier {
    shutdown: Shutdown,
    margin: Duration,
}

impl Notifier {
    /// A notifier following `shutdown`, with the
    /// [default margin](DEFAULT_EXTEND_MARGIN).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_systemd::Notifier;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// // Room for a 5 s metrics linger after the deadline.
    /// let notifier = Notifier::new(shutdown).extend_margin(Duration::from_secs(7));
    /// # drop(notifier);
    /// ```
    pub fn new(shutdown: Shutdown) -> Notifier {
        Notifier {
            shutdown,
            margin: DEFAULT_EXTEND_MARGIN,
        }
    }

    /// The time added to the remaining deadline in `EXTEND_TIMEOUT_USEC`
    /// (default 2 s). Add what runs after the deadline, such as a metrics
    /// linger.
    ///
    /// ```
    /// use std::time::Duration;
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let notifier = winddown_systemd::Notifier::new(shutdown).extend_margin(Duration::from_secs(5));
    /// # drop(notifier);
    /// ```
    pub fn extend_margin(mut self, margin: Duration) -> Notifier {
        self.margin = margin;
        self
    }

    /// Sends `READY=1` and `STATUS=serving`: call it once the service
    /// accepts connections. Returns `Ok(false)` without sending anything
    /// when `NOTIFY_SOCKET` is not set.
    ///
    /// In the new process of a [hand-off](crate::handoff), `READY=1` goes
    /// to the process handing off instead (the socket named by
    /// [`HANDOFF_SOCKET_ENV`](crate::handoff::HANDOFF_SOCKET_ENV)), which
    /// tells systemd the new main pid once it has it. Only that process
    /// does so: the hand-off names its id in
    /// [`HANDOFF_PID_ENV`](crate::handoff::HANDOFF_PID_ENV), and a process
    /// that merely inherited both variables (a process it starts later)
    /// notifies `NOTIFY_SOCKET` as usual.
    ///
    /// # Errors
    ///
    /// When the message cannot be sent (the error names the socket), when
    /// `NOTIFY_SOCKET` is neither an absolute path nor `@name`, or when
    /// [`HANDOFF_PID_ENV`](crate::handoff::HANDOFF_PID_ENV) is not a
    /// process id; of kind [`InvalidInput`](io::ErrorKind::InvalidInput)
    /// for an invalid variable, naming it and its value.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let notifier = winddown_systemd::Notifier::new(shutdown);
    /// // Not under systemd (no NOTIFY_SOCKET): nothing is sent.
    /// if std::env::var_os("NOTIFY_SOCKET").is_none() {
    ///     assert!(!notifier.ready().unwrap());
    /// }
    /// ```
    pub fn ready(&self) -> io::Result<bool> {
        #[cfg(unix)]
        if let Some(path) = crate::handoff::ready_socket()? {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            socket
                .send_to(Message::ready().to_string().as_bytes(), &path)
                .map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!(
                            "{}=\"{}\": {error}",
                            crate::handoff::HANDOFF_SOCKET_ENV,
                            winddown_core::text::escaped(&path.to_string_lossy())
                        ),
                    )
                })?;
            return Ok(true);
        }
        send(&Message::ready().to_string())
    }

    /// Sends the message of each state as the shutdown reaches it, from
    /// the trigger to done. Returns once done has been announced. Cancel
    /// safe: dropping it only stops further messages.
    ///
    /// A shutdown after a [hand-off](crate::handoff) sends nothing: the new
    /// process is the service's main process now.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_systemd::Notifier;
    ///
    /// // Without READY=1: a service whose unit is not `Type=notify`, or
    /// // that sent it itself.
    /// async fn serve(shutdown: Shutdown) {
    ///     let follow = tokio::spawn(Notifier::new(shutdown.clone()).follow());
    ///     let report = shutdown.run().await;
    ///     follow.await.expect("done was announced");
    ///     std::process::exit(report.exit_code());
    /// }
    /// ```
    pub async fn follow(self) {
        let mut failed = false;
        for state in [
            State::Announcing,
            State::Draining,
            State::Cleanup,
            State::Done,
        ] {
            self.shutdown.reached(state).await;
            if matches!(self.shutdown.reason(), Some(Reason::HandedOff { .. })) {
                return;
            }
            let message = self.message(state, Instant::now());
            match send(&message.to_string()) {
                Ok(sent) => {
                    if sent {
                        debug!(target: "winddown", %message, "sd_notify");
                    }
                }
                Err(error) if !failed => {
                    failed = true;
                    warn!(target: "winddown", %error, "sd_notify: cannot notify the service manager");
                }
                Err(_) => {}
            }
        }
    }

    /// Sends `READY=1` (see [`ready`](Self::ready)), then spawns
    /// [`follow`](Self::follow) on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, like `tokio::spawn`.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_systemd::Notifier;
    ///
    /// async fn serve(shutdown: Shutdown, listener: tokio::net::TcpListener) {
    ///     // Once the listener is bound: READY=1, then each state.
    ///     let notifier = Notifier::new(shutdown.clone()).spawn();
    ///     # drop(listener);
    ///     let report = shutdown.run().await;
    ///     notifier.await.expect("done was announced");
    ///     std::process::exit(report.exit_code());
    /// }
    /// ```
    pub fn spawn(self) -> JoinHandle<()> {
        if let Err(error) = self.ready() {
            warn!(target: "winddown", %error, "sd_notify: cannot notify the service manager");
        }
        tokio::spawn(self.follow())
    }

    /// The message for `state`, sent at `now`.
    fn message(&self, state: State, now: Instant) -> Message {
        let remaining = self.shutdown.deadline().map_or(Duration::ZERO, |deadline| {
            deadline.saturating_duration_since(now)
        });
        let reason = self
            .shutdown
            .reason()
            .map(|reason| reason.to_string())
            .unwrap_or_default();
        let status = match state {
            State::Running => "serving".to_owned(),
            State::Announcing => format!("announcing ({}): readiness fails, still serving", reason),
            State::Draining => format!("draining ({}): finishing in-flight work", reason),
            State::Cleanup => format!("cleanup ({}): running shutdown hooks", reason),
            State::Done => "done, exiting".to_owned(),
        };
        Message {
            stopping: state == State::Announcing,
            ready: false,
            extend: Some(extend_usec(remaining.saturating_add(self.margin))),
            status: sanitize(&status),
        }
    }
}

/// One datagram: the assignments sd_notify(3) reads, one a line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    ready: bool,
    stopping: bool,
    extend: Option<u64>,
    status: String,
}

impl Message {
    fn ready() -> Message {
        Message {
            ready: true,
            stopping: false,
            extend: None,
            status: "serving".to_owned(),
        }
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ready {
            f.write_str("READY=1\n")?;
        }
        if self.stopping {
            f.write_str("STOPPING=1\n")?;
        }
        if let Some(usec) = self.extend {
            writeln!(f, "EXTEND_TIMEOUT_USEC={usec}")?;
        }
        writeln!(f, "STATUS={}", self.status)
    }
}

/// `duration` in microseconds, as `EXTEND_TIMEOUT_USEC` takes it (at most
/// `u64::MAX`, systemd's infinity).
fn extend_usec(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The status text on one line: a line break would start another
/// assignment, so control characters become spaces.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Sends `datagram` to the socket named by `NOTIFY_SOCKET`; `Ok(false)`
/// when it is not set.
#[cfg(unix)]
fn send(datagram: &str) -> io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;

    let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let shown = || winddown_core::text::escaped(&value.to_string_lossy()).into_owned();
    let sent = match value.as_bytes() {
        [b'/', ..] => {
            UnixDatagram::unbound().and_then(|socket| socket.send_to(datagram.as_bytes(), &value))
        }
        [b'@', name @ ..] => {
            UnixDatagram::unbound().and_then(|socket| send_abstract(&socket, name, datagram))
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "NOTIFY_SOCKET=\"{}\" is invalid; expected the absolute path of a unix \
                     datagram socket, or @name (the Linux abstract namespace)",
                    shown()
                ),
            ));
        }
    };
    sent.map(|_| true).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("NOTIFY_SOCKET=\"{}\": {error}", shown()),
        )
    })
}

/// Sends `datagram` to `name` in the abstract namespace.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(
    socket: &std::os::unix::net::UnixDatagram,
    name: &[u8],
    datagram: &str,
) -> io::Result<usize> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;

    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(datagram.as_bytes(), &address)
}

/// The abstract namespace is Linux's only.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn send_abstract(_: &std::os::unix::net::UnixDatagram, _: &[u8], _: &str) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "an abstract socket name (@name) is Linux's only; expected the absolute path of a unix \
         datagram socket",
    ))
}

#[cfg(not(unix))]
fn send(_: &str) -> io::Result<bool> {
    Ok(false)
}

/// Tells the service manager that the new process of a hand-off, `pid`, is
/// ready and its main process now (`MAINPID=`, `READY=1`); logged when it
/// cannot be sent.
#[cfg(unix)]
pub(crate) fn hand_over(pid: u32) {
    let datagram = format!("MAINPID={pid}\nREADY=1\nSTATUS=handed off to pid {pid}\n");
    match send(&datagram) {
        Ok(true) => debug!(target: "winddown", pid, "sd_notify: MAINPID={pid}"),
        Ok(false) => {}
        Err(error) => {
            warn!(target: "winddown", %error, "sd_notify: cannot tell the service manager the new main pid")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shutdown() -> Shutdown {
        Shutdown::builder()
            .no_signals()
            .timeout(Duration::from_secs(30))
            .announce_delay(Duration::from_secs(1))
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn extend_is_the_remaining_deadline_plus_the_margin() {
        let shutdown = shutdown();
        let notifier = Notifier::new(shutdown.clone()).extend_margin(Duration::from_secs(3));
        shutdown.trigger_with(Reason::Fatal("db\ngone".into()));
        let at_trigger = notifier.message(State::Announcing, Instant::now());
        assert_eq!(at_trigger.extend, Some(33_000_000));
        assert!(at_trigger.stopping);
        assert_eq!(
            at_trigger.to_string(),
            "STOPPING=1\nEXTEND_TIMEOUT_USEC=33000000\n\
             STATUS=announcing (fatal error: db gone): readiness fails, still serving\n"
        );
        tokio::time::advance(Duration::from_millis(12_500)).await;
        let later = notifier.message(State::Cleanup, Instant::now());
        assert_eq!(later.extend, Some(20_500_000));
        assert!(!later.stopping);
        assert!(later.status.starts_with("cleanup (fatal error: db gone)"));
        tokio::time::advance(Duration::from_secs(60)).await;
        let past = notifier.message(State::Done, Instant::now());
        assert_eq!(past.extend, Some(3_000_000));
        assert_eq!(past.status, "done, exiting");
    }

    #[test]
    fn ready_message() {
        assert_eq!(Message::ready().to_string(), "READY=1\nSTATUS=serving\n");
    }

    #[test]
    fn extend_saturates() {
        assert_eq!(extend_usec(Duration::from_secs(1)), 1_000_000);
        assert_eq!(extend_usec(Duration::MAX), u64::MAX);
    }

    /// `EXTEND_TIMEOUT_USEC` was capped at `u32::MAX` µs (71.6 minutes).
    #[tokio::test(start_paused = true)]
    async fn extend_covers_a_deadline_beyond_71_minutes_in_full() {
        let day = Duration::from_secs(24 * 3600);
        let shutdown = Shutdown::builder().no_signals().timeout(day).build();
        let notifier = Notifier::new(shutdown.clone());
        shutdown.trigger();
        let message = notifier.message(State::Announcing, Instant::now());
        assert_eq!(message.extend, Some(86_402_000_000));
        assert!(
            message
                .to_string()
                .contains("\nEXTEND_TIMEOUT_USEC=86402000000\n"),
            "{message}"
        );
    }

    /// Child mode only: what the notifier sends with this environment.
    #[cfg(target_os = "linux")]
    #[test]
    fn child_mode() {
        match std::env::var(crate::test_child::MODE).as_deref() {
            Ok("ready") => {
                let shutdown = Shutdown::builder().no_signals().build();
                match Notifier::new(shutdown).ready() {
                    Ok(sent) => println!("RESULT ok sent={sent}"),
                    Err(error) => println!("RESULT err {:?} {error}", error.kind()),
                }
            }
            Ok("stop") => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let shutdown = Shutdown::builder()
                        .no_signals()
                        .announce_delay(Duration::ZERO)
                        .timeout(Duration::from_secs(24 * 3600))
                        .build();
                    let notifier = Notifier::new(shutdown.clone()).spawn();
                    shutdown.trigger();
                    let report = shutdown.run().await;
                    notifier.await.unwrap();
                    println!("RESULT ok exit code {}", report.exit_code());
                });
            }
            _ => {}
        }
    }

    #[cfg(target_os = "linux")]
    const CHILD_MODE: &str = "notify::tests::child_mode";

    /// The child's `RESULT` line.
    #[cfg(target_os = "linux")]
    fn child(mode: &str, env: &[(&str, &str)]) -> String {
        let (status, output) = crate::test_child::run(CHILD_MODE, mode, env, None);
        assert!(status.success(), "{status}:\n{output}");
        output
            .lines()
            .find_map(|line| line.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("no result:\n{output}"))
            .to_owned()
    }

    /// Receives one datagram, as text, within 20 s.
    #[cfg(target_os = "linux")]
    fn recv(socket: &std::os::unix::net::UnixDatagram) -> io::Result<String> {
        socket.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut buf = [0; 4096];
        let len = socket.recv(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
    }

    /// sd_notify(3): "If the first character of $NOTIFY_SOCKET is "@",
    /// the string is understood as Linux abstract namespace socket." It
    /// was taken for a file name: `READY=1` never arrived, and with
    /// `Type=notify` the unit's start would time out.
    #[cfg(target_os = "linux")]
    #[test]
    fn ready_reaches_a_notify_socket_in_the_abstract_namespace() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};

        // The abstract namespace is shared by the network namespace: a name
        // of this process and this instant.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("winddown-test-notify-{}-{nanos}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let manager = UnixDatagram::bind_addr(&address).unwrap();
        let result = child("ready", &[("NOTIFY_SOCKET", &format!("@{name}"))]);
        assert_eq!(result, "ok sent=true");
        assert_eq!(recv(&manager).unwrap(), "READY=1\nSTATUS=serving\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_notify_socket_that_cannot_be_reached_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nobody\nlistens.sock");
        let cases = [
            (
                "relative.sock".to_owned(),
                "err InvalidInput NOTIFY_SOCKET=\"relative.sock\" is invalid; expected the \
                 absolute path of a unix datagram socket, or @name (the Linux abstract \
                 namespace)"
                    .to_owned(),
            ),
            (
                String::new(),
                "err InvalidInput NOTIFY_SOCKET=\"\" is invalid".to_owned(),
            ),
            (
                missing.to_str().unwrap().to_owned(),
                format!(
                    "err NotFound NOTIFY_SOCKET=\"{}/nobody\\nlistens.sock\": No such file",
                    dir.path().display()
                ),
            ),
            (
                "@winddown-test-nobody-listens".to_owned(),
                "err ConnectionRefused NOTIFY_SOCKET=\"@winddown-test-nobody-listens\": \
                 Connection refused"
                    .to_owned(),
            ),
        ];
        for (value, expected) in cases {
            let result = child("ready", &[("NOTIFY_SOCKET", &value)]);
            assert!(result.starts_with(&expected), "{value:?}: {result}");
        }
    }

    /// The timeout extension over a real socket, for a 24 h deadline:
    /// it was capped at `u32::MAX` µs (71.6 minutes).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_stop_sequence_extends_the_timeout_by_a_whole_day_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let manager = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let result = child("stop", &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
        assert_eq!(result, "ok exit code 0");
        assert_eq!(recv(&manager).unwrap(), "READY=1\nSTATUS=serving\n");
        let stopping = recv(&manager).unwrap();
        let extend: u64 = stopping
            .lines()
            .find_map(|line| line.strip_prefix("EXTEND_TIMEOUT_USEC="))
            .and_then(|usec| usec.parse().ok())
            .unwrap_or_else(|| panic!("{stopping:?}"));
        assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
        assert!(
            (86_400_000_000..=86_402_000_000).contains(&extend),
            "{stopping:?}"
        );
        for _ in 0..3 {
            let later = recv(&manager).unwrap();
            assert!(later.contains("EXTEND_TIMEOUT_USEC=864"), "{later:?}");
        }
    }
}
