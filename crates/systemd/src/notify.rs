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
/// `NOTIFY_SOCKET` is read each time a message is sent. A message that
/// cannot be sent is logged (once) and the rest of the sequence goes on.
///
/// # Examples
///
/// ```
/// use winddown_core::Shutdown;
/// use winddown_systemd::Notifier;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
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
    /// tells systemd the new main pid once it has it.
    ///
    /// ```
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// let notifier = winddown_systemd::Notifier::new(shutdown);
    /// let sent = notifier.ready().unwrap();
    /// assert_eq!(sent, std::env::var_os("NOTIFY_SOCKET").is_some());
    /// ```
    pub fn ready(&self) -> io::Result<bool> {
        #[cfg(unix)]
        if let Some(path) = std::env::var_os(crate::handoff::HANDOFF_SOCKET_ENV) {
            let socket = std::os::unix::net::UnixDatagram::unbound()?;
            socket.send_to(Message::ready().to_string().as_bytes(), path)?;
            return Ok(true);
        }
        send(&Message::ready())
    }

    /// Sends the message of each state as the shutdown reaches it, from
    /// the trigger to done. Returns once done has been announced. Cancel
    /// safe: dropping it only stops further messages.
    ///
    /// A shutdown after a [hand-off](crate::handoff) sends nothing: the new
    /// process is the service's main process now.
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
            match send(&message) {
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
    extend: Option<u32>,
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
/// `u32::MAX`, about 71 minutes, what the `sd-notify` crate sends).
fn extend_usec(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// The status text on one line: a line break would start another
/// assignment, so control characters become spaces.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(unix)]
fn send(message: &Message) -> io::Result<bool> {
    use sd_notify::NotifyState;

    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return Ok(false);
    }
    let extend = message.extend.map(NotifyState::ExtendTimeoutUsec);
    let states: Vec<NotifyState<'_>> = [
        message.ready.then_some(NotifyState::Ready),
        message.stopping.then_some(NotifyState::Stopping),
        extend,
        Some(NotifyState::Status(&message.status)),
    ]
    .into_iter()
    .flatten()
    .collect();
    sd_notify::notify(&states)?;
    Ok(true)
}

/// Tells the service manager that the new process of a hand-off, `pid`, is
/// ready and its main process now (`MAINPID=`, `READY=1`); logged when it
/// cannot be sent.
#[cfg(unix)]
pub(crate) fn hand_over(pid: u32) {
    use sd_notify::NotifyState;

    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let status = format!("handed off to pid {pid}");
    let states = [
        NotifyState::MainPid(pid),
        NotifyState::Ready,
        NotifyState::Status(&status),
    ];
    match sd_notify::notify(&states) {
        Ok(()) => debug!(target: "winddown", pid, "sd_notify: MAINPID={pid}"),
        Err(error) => {
            warn!(target: "winddown", %error, "sd_notify: cannot tell the service manager the new main pid")
        }
    }
}

#[cfg(not(unix))]
fn send(_: &Message) -> io::Result<bool> {
    Ok(false)
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
        assert_eq!(extend_usec(Duration::MAX), u32::MAX);
    }
}
