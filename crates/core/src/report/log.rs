//! How a report is written to the log, and the escaping of text that came
//! from outside (hook names, error messages) before it reaches a log line.

use std::fmt;

use tracing::{info, warn};

use super::ShutdownReport;

/// Text with its control characters escaped (`\n`, `\r`, `\t`, `\u{1b}`…),
/// so that a hook name or an error message can neither start a forged log
/// line nor send terminal escape codes. Everything else is kept as is.
pub(crate) struct Escaped<'a>(&'a str);

pub(crate) fn escaped(text: &str) -> Escaped<'_> {
    Escaped(text)
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for c in self.0.chars() {
            if c.is_control() {
                for e in c.escape_default() {
                    f.write_char(e)?;
                }
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::escaped;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escaped("db\n2026-01-01 INFO forged\r\u{1b}[31mred é").to_string(),
            "db\\n2026-01-01 INFO forged\\r\\u{1b}[31mred é"
        );
    }
}
