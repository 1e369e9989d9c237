//! Times on the wire are RFC 3339 strings. They are read here with chrono's RFC 3339 parser
//! rather than through chrono's own `Deserialize`, which goes through its general
//! format-string parser: the web app is several kilobytes smaller for it. Writing them is
//! chrono's `Serialize`, unchanged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

fn parse<E: serde::de::Error>(s: &str) -> Result<DateTime<Utc>, E> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| E::custom(format_args!("not an RFC 3339 time: {e}")))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    parse(&Cow::<str>::deserialize(d)?)
}

/// For `Option<DateTime<Utc>>`: null (or absent, with `#[serde(default)]`) is `None`.
pub mod option {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<Cow<str>>::deserialize(d)?
            .map(|s| parse(&s))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "deserialize")]
        at: DateTime<Utc>,
        #[serde(default, deserialize_with = "option::deserialize")]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn reads_what_chrono_writes_and_refuses_the_rest() {
        let now = Utc::now();
        let json = serde_json::json!({ "at": now, "maybe": now }).to_string();
        let t: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t.at, t.maybe), (now, Some(now)));
        let t: T = serde_json::from_str(r#"{"at":"2026-11-29T15:39:09+01:00","maybe":null}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.at.to_rfc3339(), "2026-11-29T14:39:09+00:00");
        assert_eq!(t.maybe, None);
        assert!(serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).is_err());
    }
}
