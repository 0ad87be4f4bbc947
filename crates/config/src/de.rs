//! Serde glue: each field (de)serialises through the parsers of
//! [`schema`](crate::schema), so a bad value gives the same message here as in
//! the checks that run before.

use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::raw::Raw;
use crate::schema::Kind;

fn parse<'de, D, T>(
    deserializer: D,
    kind: Kind,
    parse: fn(&Raw) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Raw::deserialize(deserializer)?;
    let expected = kind.check(&raw).err().unwrap_or(kind.expected());
    parse(&raw)
        .ok_or_else(|| D::Error::custom(format!("expected {expected}, got {}", kind.show(&raw))))
}

pub(crate) fn show(duration: Duration) -> String {
    if duration.is_zero() {
        "0s".to_owned()
    } else {
        humantime::format_duration(duration).to_string()
    }
}

fn serialize_duration<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&show(*value))
}

macro_rules! field {
    ($module:ident, $ty:ty, $kind:expr, $parser:expr, |$value:ident, $serializer:ident| $ser:expr) => {
        pub(crate) mod $module {
            use super::*;

            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                parse(d, $kind, $parser)
            }

            pub(crate) fn serialize<S: Serializer>(
                $value: &$ty,
                $serializer: S,
            ) -> Result<S::Ok, S::Error> {
                $ser
            }
        }
    };
}

field!(
    duration,
    Duration,
    Kind::Duration,
    crate::schema::duration,
    |v, s| serialize_duration(v, s)
);
field!(
    positive_duration,
    Duration,
    Kind::PositiveDuration,
    crate::schema::positive_duration,
    |v, s| serialize_duration(v, s)
);
field!(
    whole_seconds,
    Duration,
    Kind::WholeSeconds,
    crate::schema::whole_seconds,
    |v, s| serialize_duration(v, s)
);
field!(
    grace_period,
    Option<Duration>,
    Kind::GracePeriod,
    crate::schema::grace_period,
    |v, s| s.serialize_str(&v.map(show).unwrap_or_default())
);
field!(
    addr,
    std::net::SocketAddr,
    Kind::Addr,
    crate::schema::addr,
    |v, s| s.collect_str(v)
);
field!(
    pushgateway_url,
    Option<String>,
    Kind::PushgatewayUrl,
    crate::schema::pushgateway_url,
    |v, s| s.serialize_str(v.as_deref().unwrap_or_default())
);
field!(
    textfile,
    Option<std::path::PathBuf>,
    Kind::Textfile,
    crate::schema::textfile,
    |v, s| {
        s.serialize_str(
            &v.as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        )
    }
);
field!(
    path_list,
    Vec<String>,
    Kind::PathList,
    crate::schema::path_list,
    |v, s| serde::Serialize::serialize(v, s)
);
field!(
    instance,
    Option<String>,
    Kind::Instance,
    |raw: &Raw| crate::schema::instance(raw).map(Some),
    |v, s| {
        match v {
            Some(instance) => s.serialize_some(instance),
            None => s.serialize_none(),
        }
    }
);

impl<'de> Deserialize<'de> for crate::BudgetCheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse(d, Kind::BudgetCheck, crate::schema::budget_check)
    }
}

impl<'de> Deserialize<'de> for crate::LogFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse(d, Kind::LogFormat, crate::schema::log_format)
    }
}
