//! How a report is written to the log. Text that came from outside (hook
//! names, error messages) goes through [`crate::text`] first.

use tracing::{info, warn};

use super::ShutdownReport;
pub(crate) use crate::text::escaped;

/// Writes the one summary line of a finished sequence: info when clean,
/// warn otherwise.
pub(crate) fn log_report(report: &ShutdownReport) {
    let total = report.total.as_secs_f64();
    let hooks = report.hooks.len();
    let abandoned = report.abandoned;
    let exit_code = report.exit_code();
    if report.is_clean() {
        info!(
            target: "winddown",
            total_seconds = total,
            hooks,
            abandoned,
            exit_code,
            "shutdown complete in {total:.3}s: {hooks} hooks ok"
        );
        return;
    }
    let failed = report.failed_hooks().count();
    let deadline_exceeded = report.deadline_exceeded;
    let mut why = format!("{failed} of {hooks} hooks failed");
    if deadline_exceeded {
        why.push_str(", global deadline exceeded");
    }
    if let Some(error) = &report.service_error {
        why.push_str(&format!(", service failed: {}", escaped(error)));
    }
    if report.reason.is_failure() {
        why.push_str(&format!(
            ", started by {}",
            escaped(&report.reason.to_string())
        ));
    }
    warn!(
        target: "winddown",
        total_seconds = total,
        hooks,
        failed,
        abandoned,
        deadline_exceeded,
        exit_code,
        "shutdown finished with failures in {total:.3}s: {why}"
    );
}
