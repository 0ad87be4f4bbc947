//! A configuration value as written, before it is checked, and how it is
//! shown in error messages.

use std::collections::BTreeMap;
use std::fmt;

use config::{Value, ValueKind};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use winddown_core::text::redact_url;

/// Any value a file or the environment can hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    List(Vec<Raw>),
    Table(BTreeMap<String, Raw>),
}

impl Raw {
    /// What [`kind`](Self::kind) calls a string.
    pub(crate) const A_STRING: &'static str = "a string";

    /// What kind of value this is, for a message that must not show it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Raw::Nil => "nothing",
            Raw::Bool(_) => "a boolean",
            Raw::Int(_) => "an integer",
            Raw::Float(_) => "a number",
            Raw::Str(_) => Self::A_STRING,
            Raw::List(_) => "a list",
            Raw::Table(_) => "a table",
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Raw::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// As TOML would write it: `"ten"`, `5`, `true`, `["/a", 1]`,
/// `{ a = 1, "b c" = 2 }`; strings and keys with control characters
/// escaped and the user information of URLs replaced by `***` (the whole
/// string taken as one URL, see [`redact_url`]), since this is what error
/// messages show.
impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Nil => f.write_str("nothing"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::Int(i) => write!(f, "{i}"),
            Raw::Float(x) => write!(f, "{x:?}"),
            Raw::Str(s) => write_str(f, s),
            Raw::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Raw::Table(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(" ")?;
                    let bare = !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write_str(f, key)?;
                    }
                    write!(f, " = {value}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

/// A string as a quoted TOML string: Debug-quoted, so control characters
/// are escaped; never a secret.
fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "{:?}", redact_url(s))
}

impl From<&Value> for Raw {
    fn from(value: &Value) -> Raw {
        match &value.kind {
            ValueKind::Nil => Raw::Nil,
            ValueKind::Boolean(b) => Raw::Bool(*b),
            ValueKind::I64(i) => Raw::Int((*i).into()),
            ValueKind::I128(i) => Raw::Int(*i),
            ValueKind::U64(u) => Raw::Int((*u).into()),
            ValueKind::U128(u) => i128::try_from(*u).map_or(Raw::Float(*u as f64), Raw::Int),
            ValueKind::Float(x) => Raw::Float(*x),
            ValueKind::String(s) => Raw::Str(s.clone()),
            ValueKind::Array(items) => Raw::List(items.iter().map(Raw::from).collect()),
            ValueKind::Table(table) => Raw::Table(
                table
                    .iter()
                    .map(|(k, v)| (k.clone(), Raw::from(v)))
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Nil)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw, D::Error> {
        Raw::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, Raw>()? {
            entries.insert(key, value);
        }
        Ok(Raw::Table(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_toml() {
        let table = Raw::Table(BTreeMap::from([
            ("a".to_owned(), Raw::Int(1)),
            ("b".to_owned(), Raw::Str("x".into())),
        ]));
        let cases = [
            (Raw::Str("ten".into()), r#""ten""#),
            (Raw::Str("say \"hi\"".into()), r#""say \"hi\"""#),
            (Raw::Int(-5), "-5"),
            (Raw::Float(1.5), "1.5"),
            (Raw::Float(2.0), "2.0"),
            (Raw::Bool(true), "true"),
            (
                Raw::List(vec![Raw::Str("/a".into()), Raw::Int(1)]),
                r#"["/a", 1]"#,
            ),
            (table, r#"{ a = 1, b = "x" }"#),
            (
                Raw::Table(BTreeMap::from([
                    ("x\n\u{1b}[31m".to_owned(), Raw::Int(1)),
                    ("http://u:s3cret@gw".to_owned(), Raw::Int(2)),
                    ("".to_owned(), Raw::Int(3)),
                    ("a.b".to_owned(), Raw::Int(4)),
                ])),
                r#"{ "" = 3, "a.b" = 4, "http://***@gw" = 2, "x\n\u{1b}[31m" = 1 }"#,
            ),
            (
                Raw::Str("http://ops:hunter 2@gw:9091".into()),
                r#""http://***@gw:9091""#,
            ),
            (Raw::Nil, "nothing"),
        ];
        for (raw, shown) in cases {
            assert_eq!(raw.to_string(), shown);
        }
    }
}
