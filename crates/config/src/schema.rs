//! Every key, what it accepts, and the words used when it gets something
//! else. The serde impls and the checks before them share these parsers, so
//! both say the same thing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use winddown_core::text::{has_userinfo, scheme_only};

use crate::raw::Raw;
use crate::{BudgetCheck, LogFormat, MAX_DURATION};

/// The "expected …" part of the message for a Pushgateway URL with a user
/// or password in it (the value shown has them replaced by `***`).
pub(crate) const URL_CREDENTIALS: &str = r#"an http:// URL without user or password like "http://pushgateway:9091" (credentials in the URL are not supported: the push sends no Authorization header; put a proxy that adds it in front of the gateway)"#;

/// The "expected …" part of the message for a Pushgateway URL that does
/// not parse (the value shown is its scheme and `***`).
pub(crate) const URL_UNPARSED: &str = r#"an http:// URL like "http://pushgateway:9091", or "" for off (this value does not parse as a URL, so only its scheme is shown: it may hold a password)"#;

/// The "expected …" part of the message for a Pushgateway URL whose port is
/// no port.
pub(crate) const URL_PORT: &str = r#"an http:// URL whose port, after the ":", is a number from 1 to 65535 like "http://pushgateway:9091" (leave out the ":" for port 80)"#;

/// The "expected …" part of the message for a Pushgateway URL with a query
/// or a fragment.
pub(crate) const URL_QUERY: &str = r##"an http:// URL without a query ("?…") or fragment ("#…") like "http://pushgateway:9091", or "" for off"##;

/// The "expected …" part of the message for a duration above
/// [`MAX_DURATION`]; a unit test keeps the two in step.
pub(crate) const OVER_MAX: &str =
    r#"a duration of at most "24h" (the longest any winddown duration may be)"#;

/// What a key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Zero or more.
    Duration,
    /// More than zero.
    PositiveDuration,
    /// A whole number of seconds (zero allowed).
    WholeSeconds,
    /// More than zero, or "" for none.
    GracePeriod,
    Addr,
    PushgatewayUrl,
    Textfile,
    PathList,
    Instance,
    BudgetCheck,
    LogFormat,
}

impl Kind {
    /// The "expected …" part of an error message.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Duration => r#"a duration like "15s" or "250ms""#,
            Kind::PositiveDuration => r#"a duration greater than zero like "30s" or "500ms""#,
            Kind::WholeSeconds => r#"a whole number of seconds like "5s""#,
            Kind::GracePeriod => {
                r#"a duration greater than zero like "30s", or "" to skip the check"#
            }
            Kind::Addr => r#"a socket address like "0.0.0.0:8080" or "[::]:8080""#,
            Kind::PushgatewayUrl => {
                r#"an http:// URL like "http://pushgateway:9091", or "" for off"#
            }
            Kind::Textfile => {
                r#"a file path ending in ".prom" like "/var/lib/node_exporter/textfile/app.prom", or "" for off"#
            }
            Kind::PathList => {
                r#"a list of paths starting with "/" like ["/healthz", "/metrics"] (in the environment: "/healthz,/metrics")"#
            }
            Kind::Instance => r#"a string like "orders-0", or "" to group by job only"#,
            Kind::BudgetCheck => r#"one of "warn", "error", "off""#,
            Kind::LogFormat => r#"one of "text", "json""#,
        }
    }

    /// `Ok` if `raw` is acceptable, else the "expected …" part of the
    /// message: [`OVER_MAX`] for a duration that is too long, whatever the
    /// key's other rules.
    pub(crate) fn check(self, raw: &Raw) -> Result<(), &'static str> {
        let is_duration = matches!(
            self,
            Kind::Duration | Kind::PositiveDuration | Kind::WholeSeconds | Kind::GracePeriod
        );
        if is_duration && parse_duration(raw) == Err(BadDuration::TooLong) {
            return Err(OVER_MAX);
        }
        if self == Kind::PushgatewayUrl {
            return check_pushgateway_url(raw).map(drop);
        }
        if self.accepts(raw) {
            Ok(())
        } else {
            Err(self.expected())
        }
    }

    /// `raw` as the message about it shows it: user information hidden,
    /// control characters escaped (see [`Raw`]'s `Display`), and a
    /// Pushgateway URL that does not parse as its scheme and `***` only.
    pub(crate) fn show(self, raw: &Raw) -> String {
        if self == Kind::PushgatewayUrl
            && let Raw::Str(text) = raw
            && !text.trim().is_empty()
            && text.trim().parse::<http::Uri>().is_err()
        {
            return Raw::Str(scheme_only(text.trim())).to_string();
        }
        raw.to_string()
    }

    /// Whether `raw` is acceptable.
    fn accepts(self, raw: &Raw) -> bool {
        match self {
            Kind::Duration => duration(raw).is_some(),
            Kind::PositiveDuration => positive_duration(raw).is_some(),
            Kind::WholeSeconds => whole_seconds(raw).is_some(),
            Kind::GracePeriod => grace_period(raw).is_some(),
            Kind::Addr => addr(raw).is_some(),
            Kind::PushgatewayUrl => pushgateway_url(raw).is_some(),
            Kind::Textfile => textfile(raw).is_some(),
            Kind::PathList => path_list(raw).is_some(),
            Kind::Instance => instance(raw).is_some(),
            Kind::BudgetCheck => budget_check(raw).is_some(),
            Kind::LogFormat => log_format(raw).is_some(),
        }
    }
}

/// A key of the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub(crate) path: &'static str,
    pub(crate) kind: Kind,
}

const fn key(path: &'static str, kind: Kind) -> Key {
    Key { path, kind }
}

/// Every key, in the order of the documentation.
pub(crate) const KEYS: &[Key] = &[
    key("server.addr", Kind::Addr),
    key("shutdown.timeout", Kind::PositiveDuration),
    key("shutdown.announce_delay", Kind::Duration),
    key("shutdown.drain_timeout", Kind::Duration),
    key("shutdown.hook_timeout", Kind::PositiveDuration),
    key("shutdown.retry_after", Kind::WholeSeconds),
    key("shutdown.exempt_paths", Kind::PathList),
    key("shutdown.kubernetes_grace_period", Kind::GracePeriod),
    key("shutdown.budget_check", Kind::BudgetCheck),
    key("metrics.linger", Kind::Duration),
    key("metrics.pushgateway", Kind::PushgatewayUrl),
    key("metrics.push_instance", Kind::Instance),
    key("metrics.textfile", Kind::Textfile),
    key("log.format", Kind::LogFormat),
];

/// The sections, in the order of the documentation.
pub(crate) const SECTIONS: &[&str] = &["server", "shutdown", "metrics", "log"];

pub(crate) fn find(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

// ----- parsers: `None` means "not acceptable" -----

/// Why a value is not a duration winddown takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadDuration {
    /// Not a duration at all (or a negative one).
    Invalid,
    /// A duration above [`MAX_DURATION`], or too large to represent.
    TooLong,
}

pub(crate) fn parse_duration(raw: &Raw) -> Result<Duration, BadDuration> {
    let text = raw.as_str().ok_or(BadDuration::Invalid)?.trim();
    // humantime refuses signs, but say so for "-0s" too.
    if text.starts_with(['-', '+']) {
        return Err(BadDuration::Invalid);
    }
    match humantime::parse_duration(text) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => Err(BadDuration::TooLong),
        Err(_) => Err(BadDuration::Invalid),
    }
}

/// A duration up to [`MAX_DURATION`].
pub(crate) fn duration(raw: &Raw) -> Option<Duration> {
    parse_duration(raw).ok()
}

pub(crate) fn positive_duration(raw: &Raw) -> Option<Duration> {
    duration(raw).filter(|d| !d.is_zero())
}

pub(crate) fn whole_seconds(raw: &Raw) -> Option<Duration> {
    duration(raw).filter(|d| d.subsec_nanos() == 0)
}

pub(crate) fn grace_period(raw: &Raw) -> Option<Option<Duration>> {
    if raw.as_str()?.trim().is_empty() {
        return Some(None);
    }
    positive_duration(raw).map(Some)
}

pub(crate) fn addr(raw: &Raw) -> Option<SocketAddr> {
    raw.as_str()?.trim().parse().ok()
}

pub(crate) fn pushgateway_url(raw: &Raw) -> Option<Option<String>> {
    check_pushgateway_url(raw).ok()
}

/// A Pushgateway base URL (`None` for "": off), or the "expected …" part of
/// the message. The same rules as `winddown_prometheus::Pushgateway::new`.
fn check_pushgateway_url(raw: &Raw) -> Result<Option<String>, &'static str> {
    let text = raw.as_str().ok_or(Kind::PushgatewayUrl.expected())?;
    // Before parsing: `http://ops:hunter/2@gw` parses with `ops` as the host
    // and the password in the path.
    if has_userinfo(text) {
        return Err(URL_CREDENTIALS);
    }
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let uri: http::Uri = text.parse().map_err(|_| URL_UNPARSED)?;
    let authority = uri
        .authority()
        .filter(|a| uri.scheme_str() == Some("http") && !a.host().is_empty())
        .ok_or(Kind::PushgatewayUrl.expected())?;
    if authority.as_str().contains('@') {
        return Err(URL_CREDENTIALS);
    }
    // `http::Uri` drops a fragment silently.
    if uri.query().is_some() || text.contains('#') {
        return Err(URL_QUERY);
    }
    // `http::Uri` does not check the port: `port_u16` is `None` for "99999"
    // as for no port at all.
    match authority.as_str().strip_prefix(authority.host()) {
        Some("") => {}
        Some(port) if port.strip_prefix(':').is_some_and(is_port) => {}
        _ => return Err(URL_PORT),
    }
    Ok(Some(text.to_owned()))
}

/// A TCP port to connect to: 1 to 65535, in decimal digits only
/// (`u16::from_str` would take "+80").
fn is_port(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<u16>().is_ok_and(|port| port != 0)
}

pub(crate) fn textfile(raw: &Raw) -> Option<Option<PathBuf>> {
    let text = raw.as_str()?.trim();
    if text.is_empty() {
        return Some(None);
    }
    let path = PathBuf::from(text);
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() > ".prom".len() && n.ends_with(".prom"));
    named.then_some(Some(path))
}

pub(crate) fn path_list(raw: &Raw) -> Option<Vec<String>> {
    let items: Vec<String> = match raw {
        Raw::List(items) => items
            .iter()
            .map(|item| item.as_str().map(|s| s.trim().to_owned()))
            .collect::<Option<_>>()?,
        // The environment's form: comma-separated.
        Raw::Str(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => return None,
    };
    let valid = items
        .iter()
        .all(|p| p.starts_with('/') && !p.contains(char::is_whitespace));
    valid.then_some(items)
}

pub(crate) fn instance(raw: &Raw) -> Option<String> {
    raw.as_str().map(|s| s.trim().to_owned())
}

pub(crate) fn budget_check(raw: &Raw) -> Option<BudgetCheck> {
    match raw.as_str()?.trim() {
        "warn" => Some(BudgetCheck::Warn),
        "error" => Some(BudgetCheck::Error),
        "off" => Some(BudgetCheck::Off),
        _ => None,
    }
}

pub(crate) fn log_format(raw: &Raw) -> Option<LogFormat> {
    match raw.as_str()?.trim() {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Raw {
        Raw::Str(s.to_owned())
    }

    #[test]
    fn the_maximum_is_the_one_the_message_names() {
        assert_eq!(humantime::parse_duration("24h").unwrap(), MAX_DURATION);
        assert!(OVER_MAX.contains(r#""24h""#));
    }

    #[test]
    fn durations_up_to_the_maximum_and_not_beyond() {
        assert_eq!(duration(&text("24h")), Some(MAX_DURATION));
        assert_eq!(duration(&text("86400s")), Some(MAX_DURATION));
        for long in [
            "86401s",
            "24h 1ns",
            "2days",
            "18446744073709551615s",
            "300000000000y",
        ] {
            assert_eq!(
                parse_duration(&text(long)),
                Err(BadDuration::TooLong),
                "{long}"
            );
            for kind in [
                Kind::Duration,
                Kind::PositiveDuration,
                Kind::WholeSeconds,
                Kind::GracePeriod,
            ] {
                assert_eq!(kind.check(&text(long)), Err(OVER_MAX), "{kind:?} {long}");
            }
        }
        assert_eq!(parse_duration(&text("-5s")), Err(BadDuration::Invalid));
        assert_eq!(parse_duration(&text("ten")), Err(BadDuration::Invalid));
        assert_eq!(
            Kind::Duration.check(&text("ten")),
            Err(Kind::Duration.expected())
        );
    }
}
