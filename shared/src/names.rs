//! Validated values: parse, don't validate. A `Username` in hand has passed the rules.

use crate::error::ErrorKind;
use crate::limits::{
    BOT_USERNAME, CLIENT_ID_CHARS, MESSAGE_CHARS, PASSWORD_BYTES, ROOM_NAME_CHARS, USERNAME_CHARS,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that broke a rule: which rule, said for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NameError {
    pub kind: ErrorKind,
    pub message: String,
}

impl NameError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

fn char_count_in(s: &str, range: &std::ops::RangeInclusive<usize>) -> bool {
    range.contains(&s.chars().count())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

/// 3 to 32 letters, digits, `_`, `-` or `.`; unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        let rule = format!(
            "a username has {} to {} characters: letters, digits, '_', '-' or '.'",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        );
        if !char_count_in(&s, &USERNAME_CHARS)
            || !s.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c))
        {
            return Err(NameError::new(ErrorKind::InvalidUsername, rule));
        }
        Ok(Self(s))
    }

    /// Like [`Username::parse`], and refuses names kept for the system (the chat bot's).
    pub fn parse_for_signup(s: impl Into<String>) -> Result<Self, NameError> {
        let name = Self::parse(s)?;
        if name.key() == BOT_USERNAME {
            return Err(NameError::new(
                ErrorKind::ReservedUsername,
                format!("the username '{name}' is reserved"),
            ));
        }
        Ok(name)
    }

    /// The case-folded form that uniqueness and search use.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// 1 to 64 letters, digits, `-` or `_`; unique without regard to case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);
string_newtype!(RoomName);

impl RoomName {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if !char_count_in(&s, &ROOM_NAME_CHARS)
            || !s.chars().all(|c| c.is_alphanumeric() || "_-".contains(c))
        {
            return Err(NameError::new(
                ErrorKind::InvalidRoomName,
                format!(
                    "a room name has {} to {} characters: letters, digits, '-' or '_'",
                    ROOM_NAME_CHARS.start(),
                    ROOM_NAME_CHARS.end()
                ),
            ));
        }
        Ok(Self(s))
    }

    /// The case-folded form that uniqueness uses.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// 8 to 72 bytes. Never shown, never logged: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if !PASSWORD_BYTES.contains(&s.len()) {
            return Err(NameError::new(
                ErrorKind::InvalidPassword,
                format!(
                    "a password has {} to {} bytes",
                    PASSWORD_BYTES.start(),
                    PASSWORD_BYTES.end()
                ),
            ));
        }
        Ok(Self(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// 1 to 4000 characters, not only white space. Kept byte for byte: never trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);
string_newtype!(MessageBody);

impl MessageBody {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if !char_count_in(&s, &MESSAGE_CHARS) || s.trim().is_empty() {
            return Err(NameError::new(
                ErrorKind::InvalidMessageBody,
                format!(
                    "a message has {} to {} characters and not only white space",
                    MESSAGE_CHARS.start(),
                    MESSAGE_CHARS.end()
                ),
            ));
        }
        Ok(Self(s))
    }
}

/// The client's idempotency key for a message: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);
string_newtype!(ClientId);

impl ClientId {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if !char_count_in(&s, &CLIENT_ID_CHARS) || s.chars().any(char::is_control) {
            return Err(NameError::new(
                ErrorKind::InvalidClientId,
                format!(
                    "a client_id has {} to {} characters and no control characters",
                    CLIENT_ID_CHARS.start(),
                    CLIENT_ID_CHARS.end()
                ),
            ));
        }
        Ok(Self(s))
    }
}

/// A phone number in E.164 form: `+`, then 2 to 15 digits, the first not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);
string_newtype!(PhoneNumber);

impl PhoneNumber {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        let ok = s.strip_prefix('+').is_some_and(|digits| {
            (2..=15).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit())
                && !digits.starts_with('0')
        });
        if !ok {
            return Err(NameError::new(
                ErrorKind::InvalidPhone,
                "a phone number is in E.164 form: '+', the country code and number, 2 to 15 digits, e.g. +15551234567",
            ));
        }
        Ok(Self(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rule() {
        for ok in ["bob", "a.b-c_d", "Zoë", "名前です", "x23", &"a".repeat(32)] {
            assert_eq!(
                Username::parse(ok).map(|u| u.into_inner()),
                Ok(ok.to_string())
            );
        }
        for bad in [
            "",
            "ab",
            "has space",
            "semi;colon",
            "a/b",
            "<b>",
            &"a".repeat(33),
            "tab\tx",
        ] {
            let err = Username::parse(bad).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::InvalidUsername), "{bad:?}");
        }
    }

    #[test]
    fn username_length_counts_characters_not_bytes() {
        // 32 two-byte characters are 64 bytes but 32 characters: allowed.
        assert!(Username::parse("é".repeat(32)).is_ok());
        assert!(Username::parse("é".repeat(33)).is_err());
    }

    #[test]
    fn the_bot_name_is_reserved_in_any_case() {
        for name in ["natterbot", "NatterBot"] {
            let err = Username::parse_for_signup(name).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::ReservedUsername));
        }
        assert!(Username::parse("natterbot").is_ok());
        assert!(Username::parse_for_signup("natterbot2").is_ok());
    }

    #[test]
    fn username_key_folds_case() {
        let a = Username::parse("Ärger.X").ok().map(|u| u.key());
        assert_eq!(a.as_deref(), Some("ärger.x"));
    }

    #[test]
    fn room_names_follow_the_rule() {
        for ok in ["general", "a", "Café-au_lait", &"r".repeat(64)] {
            assert!(RoomName::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "dot.ted",
            "sp ace",
            "'; DROP TABLE rooms;--",
            &"r".repeat(65),
        ] {
            let err = RoomName::parse(bad).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::InvalidRoomName), "{bad:?}");
        }
    }

    #[test]
    fn passwords_count_bytes_and_are_never_cut() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("a".repeat(72)).is_ok());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("a".repeat(73)).is_err());
        // 24 three-byte characters are 72 bytes; 25 are 75.
        assert!(Password::parse("€".repeat(24)).is_ok());
        assert!(Password::parse("€".repeat(25)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pw")),
            "Ok(Password(***))"
        );
    }

    #[test]
    fn message_bodies_follow_the_rule() {
        assert!(MessageBody::parse("hi").is_ok());
        assert!(
            MessageBody::parse("  padded  ").map(|b| b.into_inner()) == Ok("  padded  ".into())
        );
        assert!(MessageBody::parse("😀".repeat(4000)).is_ok());
        for bad in [String::new(), " \n\t ".into(), "x".repeat(4001)] {
            let err = MessageBody::parse(bad).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::InvalidMessageBody));
        }
    }

    #[test]
    fn client_ids_follow_the_rule() {
        assert!(ClientId::parse("c-1f9a").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse("a\nb").is_err());
        assert!(ClientId::parse("x".repeat(65)).is_err());
    }

    #[test]
    fn phone_numbers_are_e164() {
        for ok in ["+15551234567", "+447911123456", "+12"] {
            assert!(PhoneNumber::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "+",
            "5551234567",
            "+0123",
            "+1 555 123",
            "+1234567890123456",
            "+1-555",
        ] {
            let err = PhoneNumber::parse(bad).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::InvalidPhone), "{bad:?}");
        }
    }

    #[test]
    fn deserializing_checks_the_rule() {
        let ok: Result<Username, _> = serde_json::from_str("\"alice\"");
        assert!(ok.is_ok());
        let bad: Result<Username, _> = serde_json::from_str("\"a b\"");
        assert!(bad.is_err());
    }
}
