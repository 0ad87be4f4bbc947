//! Text from the outside as logs and error messages show it: the user
//! information of URLs hidden, control characters escaped, length bounded.
//!
//! Hook names, error messages, configured URLs and the answers of remote
//! servers all reach log lines; every crate of winddown shows them through
//! these functions, so none can forge a log line, colour a terminal or leak
//! a password ([`redact_userinfo`] for free text, [`redact_url`] for one URL
//! as configured, [`scheme_only`] for a URL that does not parse).
//!
//! # Examples
//!
//! ```
//! use winddown_core::text;
//!
//! let name = "db\n2026-01-01T00:00:00Z INFO forged";
//! assert_eq!(text::escaped(name), r"db\n2026-01-01T00:00:00Z INFO forged");
//! assert_eq!(text::shown("http://user:pw@gw:9091"), "http://***@gw:9091");
//! ```

use std::borrow::Cow;

/// `text` with the user information of every URL in it replaced by `***`:
/// `http://user:secret@gw:9091/` shows as `http://***@gw:9091/`.
///
/// After a `scheme://`, every `@` up to the first whitespace is taken for
/// the end of user information, and everything before the last of them is
/// hidden: a password may hold `/`, `?` or `#` unencoded
/// (`http://ops:hunter/2@gw` shows as `http://***@gw`), and hiding a path
/// with an `@` in it too is the safe mistake. The start of the text counts
/// as an authority too (up to `/`, `?`, `#`, a quote or whitespace), so
/// `user:secret@gw:9091` (no scheme) shows as `***@gw:9091`.
///
/// For free text (a log line, an error message). One URL as configured,
/// where whitespace does not end it, goes through [`redact_url`].
///
/// ```
/// use winddown_core::text::redact_userinfo;
/// assert_eq!(redact_userinfo("http://user:s3cret@gw:9091/"), "http://***@gw:9091/");
/// assert_eq!(redact_userinfo("http://ops:hunter/2@gw:9091"), "http://***@gw:9091");
/// assert_eq!(redact_userinfo("http://gw:9091"), "http://gw:9091");
/// ```
pub fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let mut cuts = Vec::new();
    // The start of the text: `user:secret@host`, without a scheme.
    let first = text
        .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace())
        .unwrap_or(text.len());
    if let Some(at) = text[..first].rfind('@') {
        cuts.push((0, at));
    }
    // After every `scheme://`: up to the first whitespace.
    for (i, _) in text.match_indices("://") {
        let start = i + 3;
        let authority = &text[start..];
        let end = authority
            .find(char::is_whitespace)
            .unwrap_or(authority.len());
        if let Some(at) = authority[..end].rfind('@') {
            cuts.push((start, start + at));
        }
    }
    hide(text, &cuts)
}

/// `url`, one URL as given (a configured value, an argument), with its user
/// information replaced by `***` (everything between `scheme://` and the
/// last `@` of the whole text, whitespace included, since the text is one
/// value and not a line of words), and its query and fragment too (where
/// tokens are passed). Without a `scheme://`, everything up to its last
/// `@`.
///
/// ```
/// use winddown_core::text::redact_url;
/// assert_eq!(redact_url("http://ops:hunter 2@gw:9091"), "http://***@gw:9091");
/// assert_eq!(redact_url("user:s3cret@gw:9091"), "***@gw:9091");
/// assert_eq!(redact_url("http://gw:9091/prefix"), "http://gw:9091/prefix");
/// assert_eq!(redact_url("http://gw:9091/p?token=s3cret"), "http://gw:9091/p?***");
/// assert_eq!(redact_url("http://u:p?w@gw/#s3cret"), "http://***@gw/#***");
/// assert_eq!(redact_url("user:pa://ss@gw"), "***@gw");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    // A `://` after anything but a scheme (inside a password) is no scheme;
    // without one, everything up to the value's last `@` is user information.
    let Some(i) = url.find("://").filter(|&i| is_scheme(&url[..i])) else {
        return match url.rfind('@') {
            Some(at) => hide(url, &[(0, at)]),
            None => Cow::Borrowed(url),
        };
    };
    let start = i + 3;
    let mut cuts = Vec::with_capacity(2);
    let host = match url[start..].rfind('@') {
        Some(at) => {
            cuts.push((start, start + at));
            start + at + 1
        }
        None => start,
    };
    if let Some(q) = url[host..].find(['?', '#']) {
        let after = host + q + 1;
        if after < url.len() {
            cuts.push((after, url.len()));
        }
    }
    hide(url, &cuts)
}

/// What a message shows of a URL that does not parse: its scheme and `***`
/// (`http://***`), or `***` without a scheme. The rest is not shown at all:
/// where the user information of a broken URL ends cannot be told, and it
/// may hold a password.
///
/// ```
/// use winddown_core::text::scheme_only;
/// assert_eq!(scheme_only("http://ops:hunter 2@gw:9091"), "http://***");
/// assert_eq!(scheme_only("ops:hunter/2@gw:9091"), "***");
/// ```
pub fn scheme_only(url: &str) -> String {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .filter(|s| is_scheme(s));
    match scheme {
        Some(scheme) => format!("{scheme}://***"),
        None => "***".to_owned(),
    }
}

/// Whether `text` is a URL scheme. RFC 3986: ALPHA *( ALPHA / DIGIT / "+" /
/// "-" / "." ).
fn is_scheme(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `text` with each `(start, end)` range (in increasing order of start)
/// replaced by `***`; a range starting inside one already hidden is skipped.
fn hide<'a>(text: &'a str, cuts: &[(usize, usize)]) -> Cow<'a, str> {
    if cuts.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len());
    let mut copied = 0;
    for &(start, end) in cuts {
        if start < copied {
            continue;
        }
        shown.push_str(&text[copied..start]);
        shown.push_str("***");
        copied = end;
    }
    shown.push_str(&text[copied..]);
    Cow::Owned(shown)
}

/// Whether `text` carries user information (`user:password@`) where a URL
/// has its authority, as [`redact_userinfo`] sees it: an `@` anywhere after
/// `scheme://` before the first whitespace, or in the first word of a text
/// without a scheme.
///
/// ```
/// assert!(winddown_core::text::has_userinfo("http://u:p@gw"));
/// assert!(winddown_core::text::has_userinfo("http://u:p/q@gw"));
/// assert!(!winddown_core::text::has_userinfo("http://gw:9091/metrics"));
/// ```
pub fn has_userinfo(text: &str) -> bool {
    matches!(redact_userinfo(text), Cow::Owned(_))
}

/// `text` with control characters (newlines, carriage returns, escape
/// codes) and invisible reordering marks escaped like Rust's
/// `escape_debug` (`\n`, `\u{1b}`), so it cannot break or forge a line of a
/// log or a terminal; everything else as is.
///
/// ```
/// use winddown_core::text::escaped;
/// assert_eq!(escaped("db\nINFO forged\u{1b}[31m"), r"db\nINFO forged\u{1b}[31m");
/// assert_eq!(escaped("plain é"), "plain é");
/// // Invisible and direction-changing marks too (Arabic letter mark, BOM).
/// assert_eq!(escaped("a\u{61c}b\u{feff}"), r"a\u{61c}b\u{feff}");
/// ```
pub fn escaped(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(
                c,
                '\u{061c}'
                    | '\u{200b}'..='\u{200f}'
                    | '\u{2028}'..='\u{202e}'
                    | '\u{2060}'..='\u{206f}'
                    | '\u{feff}'
            )
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Untrusted bytes (say, the body of an HTTP answer) as one bounded line:
/// at most `max` bytes of them, decoded as UTF-8 (invalid sequences become
/// `�`), trimmed, control characters [escaped], and ` […]` when
/// cut.
///
/// ```
/// use winddown_core::text::bounded_line;
/// assert_eq!(bounded_line(b"bad\ninput", 100), r"bad\ninput");
/// assert_eq!(bounded_line(b"abcdef", 3), "abc […]");
/// ```
pub fn bounded_line(bytes: &[u8], max: usize) -> String {
    let kept = &bytes[..bytes.len().min(max)];
    let text = String::from_utf8_lossy(kept);
    let mut line = escaped(text.trim()).into_owned();
    if bytes.len() > kept.len() {
        line.push_str(" […]");
    }
    line
}

/// What an error message or a log line shows of an outside value: user
/// information [hidden](redact_userinfo), then control characters
/// [escaped].
///
/// ```
/// assert_eq!(winddown_core::text::shown("http://u:pw@gw\n"), r"http://***@gw\n");
/// ```
pub fn shown(text: &str) -> String {
    escaped(&redact_userinfo(text)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden_wherever_a_url_has_it() {
        let cases = [
            ("http://user:s3cret@gw:9091", "http://***@gw:9091"),
            (
                "http://s3cret@gw:9091/prefix?q",
                "http://***@gw:9091/prefix?q",
            ),
            ("http://user:p@ss@gw:9091", "http://***@gw:9091"),
            ("user:s3cret@gw:9091", "***@gw:9091"),
            (
                "push to http://a:s3cret@gw/ and https://b:s3cret@gw2 failed",
                "push to http://***@gw/ and https://***@gw2 failed",
            ),
            // A password holding a character that ends an authority.
            ("http://ops:hunter/2@gw:9091", "http://***@gw:9091"),
            ("http://ops:hunter?2@gw:9091", "http://***@gw:9091"),
            ("http://ops:hunter#2@gw:9091", "http://***@gw:9091"),
            ("http://ops:hun\"ter@gw:9091", "http://***@gw:9091"),
            // An `@` after the authority is hidden too: the safe mistake.
            ("http://gw:9091/path@x", "http://***@x"),
            // Whitespace ends a URL in free text.
            ("http://gw:9091 mail a@b", "http://gw:9091 mail a@b"),
            ("http://gw:9091", "http://gw:9091"),
            ("/var/lib/app@1/x.prom", "/var/lib/app@1/x.prom"),
            ("/healthz", "/healthz"),
            ("", ""),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_userinfo(text), expected, "{text}");
            assert_eq!(has_userinfo(text), text != expected, "{text}");
        }
    }

    #[test]
    fn one_url_is_hidden_up_to_its_last_at_whitespace_included() {
        let cases = [
            ("http://ops:hunter 2@gw:9091", "http://***@gw:9091"),
            ("http://a:b@gw x@y", "http://***@y"),
            ("http://ops:hunter/2@gw:9091", "http://***@gw:9091"),
            ("user:s3cret@gw:9091", "***@gw:9091"),
            ("http://gw:9091/prefix", "http://gw:9091/prefix"),
            ("not a url", "not a url"),
            ("", ""),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }

    #[test]
    fn a_url_that_does_not_parse_shows_its_scheme_only() {
        let cases = [
            ("http://ops:hunter 2@gw:9091", "http://***"),
            ("HTTP+unix://x", "HTTP+unix://***"),
            ("http://", "http://***"),
            ("ops:hunter/2@gw:9091", "***"),
            ("not a url", "***"),
            (" http://gw", "***"),
            ("1http://gw", "***"),
            ("://gw", "***"),
            ("", "***"),
        ];
        for (url, expected) in cases {
            assert_eq!(scheme_only(url), expected, "{url}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escaped("plain text, é ü"), "plain text, é ü");
        assert_eq!(
            escaped("a\nINFO forged\r\u{1b}[31mred\u{202e}"),
            r"a\nINFO forged\r\u{1b}[31mred\u{202e}"
        );
    }

    #[test]
    fn shown_hides_then_escapes() {
        assert_eq!(shown("http://u:pw@gw\n"), r"http://***@gw\n");
    }

    #[test]
    fn untrusted_bytes_become_one_bounded_line() {
        assert_eq!(bounded_line(b"  bad input\n", 100), "bad input");
        assert_eq!(
            bounded_line(b"x\n2025-01-01T00:00:00Z INFO forged\x1b[0m", 100),
            r"x\n2025-01-01T00:00:00Z INFO forged\u{1b}[0m"
        );
        assert_eq!(bounded_line(b"abcdef", 3), "abc […]");
        assert_eq!(bounded_line(&[0xff, b'a'], 10), "\u{fffd}a");
    }
}
