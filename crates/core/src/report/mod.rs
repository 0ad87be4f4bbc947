//! The result of a shutdown: what ran, how long each step took, what failed.
//!
//! The report itself lives here; the log lines it is written as live in
//! `log.rs`.

mod log;

pub(crate) use log::{escaped, log_report};

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::{Phase, Reason};

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// How one hook ended.
///
/// # Examples
///
/// ```
/// use winddown_core::HookOutcome;
///
/// assert_eq!(HookOutcome::Ok.as_str(), "ok");
/// assert!(!HookOutcome::Timeout(None).is_ok());
/// let cut = HookOutcome::Timeout(Some("12 records not flushed".into()));
/// assert_eq!(cut.to_string(), "timeout: 12 records not flushed");
/// assert_eq!(cut.message(), Some("12 records not flushed"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "message", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookOutcome {
    /// It returned `Ok(())` in time.
    Ok,
    /// It returned an error; the text is the error's `Display`.
    Error(String),
    /// It was still running at its deadline: its cancellation token fired
    /// and, if it returned within the
    /// [cancel grace](crate::defaults::HOOK_CANCEL_GRACE), the text is what
    /// it returned (its error, `panicked: …`, or `returned ok after its
    /// deadline`); `None` if it ignored the cancellation and was dropped.
    Timeout(Option<String>),
    /// It panicked; the text is the panic message.
    Panic(String),
    /// It never started because the global deadline had already passed.
    Skipped,
}

impl HookOutcome {
    /// The label used in metrics and reports: `ok`, `error`, `timeout`,
    /// `panic` or `skipped`.
    ///
    /// ```
    /// use winddown_core::HookOutcome;
    ///
    /// assert_eq!(HookOutcome::Error("refused".into()).as_str(), "error");
    /// assert_eq!(HookOutcome::Timeout(None).as_str(), "timeout");
    /// assert_eq!(HookOutcome::Skipped.as_str(), "skipped");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            HookOutcome::Ok => "ok",
            HookOutcome::Error(_) => "error",
            HookOutcome::Timeout(_) => "timeout",
            HookOutcome::Panic(_) => "panic",
            HookOutcome::Skipped => "skipped",
        }
    }

    /// Whether the hook succeeded.
    ///
    /// ```
    /// assert!(winddown_core::HookOutcome::Ok.is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, HookOutcome::Ok)
    }

    /// The text that goes with the outcome, if any: the error, the panic
    /// message, or what a timed-out hook returned after its cancellation.
    ///
    /// ```
    /// use winddown_core::HookOutcome;
    /// assert_eq!(HookOutcome::Error("refused".into()).message(), Some("refused"));
    /// assert_eq!(HookOutcome::Timeout(None).message(), None);
    /// ```
    pub fn message(&self) -> Option<&str> {
        match self {
            HookOutcome::Error(m) | HookOutcome::Panic(m) | HookOutcome::Timeout(Some(m)) => {
                Some(m)
            }
            _ => None,
        }
    }
}

impl fmt::Display for HookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookOutcome::Error(m) | HookOutcome::Panic(m) | HookOutcome::Timeout(Some(m)) => {
                write!(f, "{}: {}", self.as_str(), escaped(m))
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

/// One hook's line in the [`ShutdownReport`].
///
/// ```
/// use winddown_core::{HookOutcome, Phase, Shutdown, hook_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown.register(hook_fn("db", |_ctx| async { Ok(()) })).unwrap();
/// shutdown.trigger();
/// let report = shutdown.run().await;
/// let record = &report.hooks[0];
/// assert_eq!(record.name, "db");
/// assert_eq!(record.phase, Phase::CLOSE);
/// assert_eq!(record.outcome, HookOutcome::Ok);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookRecord {
    /// The hook's name.
    pub name: String,
    /// The phase it ran in.
    pub phase: Phase,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: HookOutcome,
    /// How long it ran.
    #[serde(serialize_with = "seconds", rename = "duration_seconds")]
    pub duration: Duration,
}

/// The result of a shutdown sequence.
///
/// It prints as a short table, serialises for structured logs, and gives the
/// process exit code.
///
/// # Examples
///
/// ```
/// use winddown_core::Shutdown;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let shutdown = Shutdown::builder().no_signals().build();
/// shutdown.on_cleanup("cache", |_| async { Ok(()) }).unwrap();
/// shutdown.on_cleanup("db", |_| async { Err("connection reset".into()) }).unwrap();
/// shutdown.trigger();
/// let report = shutdown.run().await;
///
/// assert_eq!(report.failed_hooks().count(), 1);
/// assert_eq!(report.exit_code(), 1);
/// let json = serde_json::to_value(&report).unwrap();
/// assert_eq!(json["hooks"][1]["outcome"], "error");
/// println!("{report}");
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Why shutdown started.
    pub reason: Reason,
    /// Time from the trigger to the start of draining.
    #[serde(serialize_with = "seconds", rename = "announce_seconds")]
    pub announce: Duration,
    /// Time spent draining in-flight work.
    #[serde(serialize_with = "seconds", rename = "drain_seconds")]
    pub drain: Duration,
    /// Time spent running hooks.
    #[serde(serialize_with = "seconds", rename = "cleanup_seconds")]
    pub cleanup: Duration,
    /// Time from the trigger to done.
    #[serde(serialize_with = "seconds", rename = "total_seconds")]
    pub total: Duration,
    /// Whether all in-flight work finished before the drain timeout.
    pub drained: bool,
    /// In-flight units of work (requests, tracked tasks) still running when
    /// draining ended, and so cut.
    pub abandoned: usize,
    /// Whether the global deadline was reached before the sequence finished.
    pub deadline_exceeded: bool,
    /// One record per hook, in the order they ran.
    pub hooks: Vec<HookRecord>,
    /// The service's own failure after shutdown had started: the error it
    /// returned, or its panic, while announcing, draining, cleaning up or in
    /// the final grace of [`run_until`](crate::Shutdown::run_until). A failure
    /// before the trigger is the [`reason`](Self::reason) instead.
    pub service_error: Option<String>,
    #[serde(skip)]
    pub(crate) failure_exit_code: i32,
}

impl ShutdownReport {
    /// The hooks that did not end [`HookOutcome::Ok`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Err("reset".into()) }).unwrap();
    /// shutdown.trigger();
    /// let report = shutdown.run().await;
    /// assert_eq!(report.failed_hooks().next().unwrap().name, "db");
    /// # }
    /// ```
    pub fn failed_hooks(&self) -> impl Iterator<Item = &HookRecord> {
        self.hooks.iter().filter(|h| !h.outcome.is_ok())
    }

    /// Whether everything went cleanly: no hook failed, the deadline was not
    /// hit, shutdown was not caused by a fatal error and the service did not
    /// fail while shutting down. Abandoned in-flight work (for example
    /// endless event streams cut at the drain timeout) does not by itself
    /// make a shutdown unclean.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().build();
    /// shutdown.trigger();
    /// assert!(shutdown.run().await.is_clean());
    /// # }
    /// ```
    pub fn is_clean(&self) -> bool {
        self.failed_hooks().next().is_none()
            && !self.deadline_exceeded
            && !self.reason.is_failure()
            && self.service_error.is_none()
    }

    /// `0` when [clean](Self::is_clean), otherwise the configured failure code
    /// ([`ShutdownBuilder::failure_exit_code`](crate::ShutdownBuilder::failure_exit_code),
    /// 1 by default).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = winddown_core::Shutdown::builder().no_signals().failure_exit_code(70).build();
    /// shutdown.on_cleanup("db", |_| async { Err("reset".into()) }).unwrap();
    /// shutdown.trigger();
    /// assert_eq!(shutdown.run().await.exit_code(), 70);
    /// # }
    /// ```
    pub fn exit_code(&self) -> i32 {
        if self.is_clean() {
            0
        } else {
            self.failure_exit_code
        }
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "shutdown report: {} ({}), total {:.3}s, exit code {}",
            if self.is_clean() { "clean" } else { "FAILED" },
            escaped(&self.reason.to_string()),
            self.total.as_secs_f64(),
            self.exit_code()
        )?;
        writeln!(f, "  announce  {:>8.3}s", self.announce.as_secs_f64())?;
        writeln!(
            f,
            "  drain     {:>8.3}s  {}",
            self.drain.as_secs_f64(),
            if self.drained {
                "all in-flight work finished".to_owned()
            } else {
                format!("{} abandoned", self.abandoned)
            }
        )?;
        writeln!(
            f,
            "  cleanup   {:>8.3}s  {} hooks",
            self.cleanup.as_secs_f64(),
            self.hooks.len()
        )?;
        if self.deadline_exceeded {
            writeln!(f, "  global deadline exceeded")?;
        }
        if let Some(error) = &self.service_error {
            writeln!(
                f,
                "  service failed while shutting down: {}",
                escaped(error)
            )?;
        }
        if !self.hooks.is_empty() {
            let width = self
                .hooks
                .iter()
                .map(|h| escaped(&h.name).to_string().chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            writeln!(
                f,
                "  {:>3}  {:<12} {:<width$}  {:>8}  outcome",
                "#", "phase", "hook", "duration"
            )?;
            for (i, h) in self.hooks.iter().enumerate() {
                writeln!(
                    f,
                    "  {:>3}  {:<12} {:<width$}  {:>7.3}s  {}",
                    i + 1,
                    h.phase.to_string(),
                    escaped(&h.name).to_string(),
                    h.duration.as_secs_f64(),
                    h.outcome
                )?;
            }
        }
        Ok(())
    }
}
