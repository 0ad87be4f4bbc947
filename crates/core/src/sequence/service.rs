//! Running a service beside the sequence: the scope form.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinError;
use tokio::time::{Instant, timeout_at};
use tracing::{error, warn};

use crate::report::escaped;
use crate::shutdown::{deadline_after, lock};
use crate::{Reason, Shutdown, ShutdownReport};

/// How long the service gets to return once the sequence is done.
const FINAL_GRACE: Duration = Duration::from_secs(1);

impl Shutdown {
    /// Runs a service until shutdown, then drains and cleans up: the scope
    /// form (the seed's `with shutdown:` block).
    ///
    /// `service` is spawned; it should stop accepting work when draining
    /// starts (see [`draining`](Self::draining)) and return. If it returns
    /// before any trigger, that triggers shutdown ([`Reason::ServiceExited`],
    /// or [`Reason::Fatal`] with its error or panic). If it fails once
    /// shutdown has started — an error or a panic while announcing,
    /// draining, cleaning up, or in the final grace — the failure is logged
    /// at error level and kept in [`ShutdownReport::service_error`], and the
    /// exit code is a failure (a failure while the
    /// [`before_done`](Self::before_done) steps run is in the report this
    /// returns and in [`report`](Self::report), not in the copy those steps
    /// were given). After the sequence is done the service gets up to one
    /// second to return (to write out what it is still sending, such as the
    /// last scrape a linger waited for), then it is dropped: also when done
    /// comes after the global deadline, as it does when the before-done steps
    /// run past it.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe, like [`run`](Self::run).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::{Reason, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// shutdown.on_cleanup("db", |_| async { Ok(()) }).unwrap();
    /// let service = async move {
    ///     tokio::time::sleep(Duration::from_secs(1)).await;
    ///     Err::<(), _>(std::io::Error::other("listener failed"))
    /// };
    /// let report = shutdown.run_until(service).await;
    /// assert_eq!(report.reason, Reason::Fatal("listener failed".into()));
    /// assert_eq!(report.exit_code(), 1);
    ///
    /// // A failure after the trigger is kept too.
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let service = {
    ///     let shutdown = shutdown.clone();
    ///     async move {
    ///         shutdown.draining().await;
    ///         Err::<(), _>(std::io::Error::other("flush on close failed"))
    ///     }
    /// };
    /// shutdown.trigger();
    /// let report = shutdown.run_until(service).await;
    /// assert_eq!(report.service_error.as_deref(), Some("flush on close failed"));
    /// assert_eq!(report.exit_code(), 1);
    /// # }
    /// ```
    pub async fn run_until<F, E>(&self, service: F) -> ShutdownReport
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        // Handlers first: a signal that arrives once the service is up must
        // trigger shutdown, not kill the process with the default action.
        if let Err(error) = self.listen_for_signals() {
            warn!(target: "winddown", %error, "could not install signal handlers");
        }
        let mut service = tokio::spawn(service);
        let sequence = self.run();
        tokio::pin!(sequence);
        let mut service_done = false;
        let mut report = loop {
            tokio::select! {
                report = &mut sequence => break report,
                joined = &mut service, if !service_done => {
                    service_done = true;
                    self.service_ended(joined);
                }
            }
        };
        // A failure recorded while the before-done steps ran came after the
        // report was made: it belongs in the report all the same.
        if report.service_error.is_none()
            && let Some(failure) = lock(&self.inner.service_error).clone()
        {
            report.service_error = Some(failure);
            *lock(&self.inner.report) = Some(report.clone());
        }
        if !service_done {
            let grace = deadline_after(Instant::now(), FINAL_GRACE);
            match timeout_at(grace, &mut service).await {
                Ok(joined) => {
                    if let Some(failure) = failure_of(joined) {
                        error!(
                            target: "winddown",
                            error = %escaped(&failure),
                            "service failed after shutdown was done: {}",
                            escaped(&failure)
                        );
                        report.service_error.get_or_insert(failure);
                        *lock(&self.inner.report) = Some(report.clone());
                    }
                }
                Err(_) => service.abort(),
            }
        }
        report
    }

    /// The service returned: before the trigger it starts shutdown, after it
    /// a failure is recorded for the report.
    fn service_ended<E: fmt::Display>(&self, joined: Result<Result<(), E>, JoinError>) {
        let failure = failure_of(joined);
        if !self.is_shutting_down() {
            let reason = match failure {
                None => Reason::ServiceExited,
                Some(message) => Reason::Fatal(message),
            };
            if self.trigger_with(reason.clone()) {
                warn!(
                    target: "winddown",
                    reason = %escaped(&reason.to_string()),
                    "service stopped on its own: shutting down"
                );
                return;
            }
            // Lost the race to another trigger: the failure, if any, is
            // still the service's own.
            if let Reason::Fatal(message) = reason {
                self.record_service_error(message);
            }
            return;
        }
        if let Some(message) = failure {
            self.record_service_error(message);
        }
    }

    fn record_service_error(&self, message: String) {
        error!(
            target: "winddown",
            state = %self.state(),
            error = %escaped(&message),
            "service failed while shutting down ({}): {}",
            self.state(),
            escaped(&message)
        );
        lock(&self.inner.service_error).get_or_insert(message);
    }
}

/// The failure, if the service failed: its error, or its panic.
fn failure_of<E: fmt::Display>(joined: Result<Result<(), E>, JoinError>) -> Option<String> {
    match joined {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(error.to_string()),
        Err(join) if join.is_panic() => {
            let message = crate::runner::panic_message(join.into_panic());
            Some(format!("service task panicked: {message}"))
        }
        Err(join) => Some(format!("service task failed: {join}")),
    }
}
