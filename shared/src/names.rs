//! Validated values: parse, don't validate. A `Username` in hand has passed the rules.

use crate::error::ErrorKind;
use crate::limits::{
    BOT_USERNAME, CLIENT_ID_CHARS, MESSAGE_CHARS, PASSWORD_BYTES, ROOM_NAME_CHARS, TOPIC_CHARS,
    USERNAME_CHARS,
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

/// Characters that show nothing or move other text: default-ignorable code points (zero-width
/// spaces and joiners, variation selectors, tags), Hangul fillers that render blank, and the
/// bidirectional controls that reorder what follows them. Names never hold them, and a
/// message of nothing else is refused.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether a character reorders the text around it (embeddings, overrides, isolates, marks).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// The server's name rules beyond the characters (with the `confusables` feature): NFKC first,
/// so that `ａｌｉｃｅ` and `𝐚𝐥𝐢𝐜𝐞` are `alice`; then the uniqueness key is the case-folded
/// UTS #39 confusable skeleton, so that a look-alike of a taken name is taken; and a name
/// that mixes scripts is refused unless UTS #39 calls the mix moderately restrictive (Latin
/// with one other recommended script that is not Cyrillic or Greek, or Han with Kana or
/// Hangul). The web app, without the feature, checks the characters and leaves the rest to
/// the server.
#[cfg(feature = "confusables")]
mod strict {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

    pub fn normalize(s: String) -> String {
        if s.is_ascii() {
            return s;
        }
        s.nfkc().collect()
    }

    pub fn key(s: &str) -> String {
        let skeleton: String = unicode_security::skeleton(&s.to_lowercase()).collect();
        skeleton.to_lowercase()
    }

    /// Why a name's scripts are unsafe, if they are.
    pub fn unsafe_scripts(s: &str) -> Option<&'static str> {
        let letters: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
        if !letters
            .chars()
            .all(GeneralSecurityProfile::identifier_allowed)
        {
            return Some("it has characters that are not allowed in names (UTS #39)");
        }
        if !letters
            .as_str()
            .check_restriction_level(RestrictionLevel::ModeratelyRestrictive)
        {
            return Some("it mixes scripts that look alike (such as Latin and Cyrillic)");
        }
        None
    }
}

#[cfg(not(feature = "confusables"))]
mod strict {
    pub fn normalize(s: String) -> String {
        s
    }

    pub fn key(s: &str) -> String {
        s.to_lowercase()
    }

    pub fn unsafe_scripts(_: &str) -> Option<&'static str> {
        None
    }
}

fn visible_name(s: &str, extra: &str) -> bool {
    s.chars()
        .all(|c| (c.is_alphanumeric() || extra.contains(c)) && !is_invisible(c))
}

/// 3 to 32 letters, digits, `_`, `-` or `.`, in NFKC form; unique by the confusable
/// skeleton, so that no two names look alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);
string_newtype!(Username);

impl Username {
    /// The character rules: enough to look a name up (names made before the script rules
    /// still sign in). New names pass [`Username::parse_for_signup`].
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = strict::normalize(s.into());
        let rule = format!(
            "a username has {} to {} characters: letters, digits, '_', '-' or '.'",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        );
        if !char_count_in(&s, &USERNAME_CHARS) || !visible_name(&s, "_-.") {
            return Err(NameError::new(ErrorKind::InvalidUsername, rule));
        }
        Ok(Self(s))
    }

    /// Like [`Username::parse`], and refuses names kept for the system (the chat bot's, or
    /// one that looks like it) and, on the server, names that mix look-alike scripts.
    pub fn parse_for_signup(s: impl Into<String>) -> Result<Self, NameError> {
        let name = Self::parse(s)?;
        if let Some(why) = strict::unsafe_scripts(name.as_str()) {
            return Err(NameError::new(
                ErrorKind::InvalidUsername,
                format!("the username '{name}' is not allowed: {why}"),
            ));
        }
        if name.key() == strict::key(BOT_USERNAME) {
            return Err(NameError::new(
                ErrorKind::ReservedUsername,
                format!("the username '{name}' is reserved"),
            ));
        }
        Ok(name)
    }

    /// The form that uniqueness and look-ups use: case-folded, and on the server the
    /// confusable skeleton, so `Alice`, `аlice` and `a1ice` share a key.
    pub fn key(&self) -> String {
        strict::key(&self.0)
    }
}

/// 1 to 64 letters, digits, `-` or `_`, in NFKC form, one script (or a safe mix); unique by
/// the confusable skeleton.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(String);
string_newtype!(RoomName);

impl RoomName {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = strict::normalize(s.into());
        if !char_count_in(&s, &ROOM_NAME_CHARS) || !visible_name(&s, "_-") {
            return Err(NameError::new(
                ErrorKind::InvalidRoomName,
                format!(
                    "a room name has {} to {} characters: letters, digits, '-' or '_'",
                    ROOM_NAME_CHARS.start(),
                    ROOM_NAME_CHARS.end()
                ),
            ));
        }
        if let Some(why) = strict::unsafe_scripts(&s) {
            return Err(NameError::new(
                ErrorKind::InvalidRoomName,
                format!("the room name '{s}' is not allowed: {why}"),
            ));
        }
        Ok(Self(s))
    }

    /// The form that uniqueness uses, like [`Username::key`].
    pub fn key(&self) -> String {
        strict::key(&self.0)
    }
}

/// The uniqueness key of a name already stored: what [`Username::key`] and [`RoomName::key`]
/// give, for rows written before the keys were skeletons.
pub fn name_key(stored: &str) -> String {
    strict::key(&strict::normalize(stored.to_owned()))
}

/// A room's topic: up to 250 characters on one line, without control characters; white
/// space around it is trimmed. An empty topic is none ([`Topic::parse`] gives `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic(String);

impl Topic {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn parse(s: impl Into<String>) -> Result<Option<Self>, NameError> {
        let s = s.into();
        let s = s.trim();
        if s.chars().count() > TOPIC_CHARS || s.chars().any(char::is_control) {
            return Err(NameError::new(
                ErrorKind::InvalidTopic,
                format!("a topic has at most {TOPIC_CHARS} characters on one line"),
            ));
        }
        if s.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
            return Ok(None);
        }
        Ok(Some(Self(s.to_owned())))
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

/// 1 to 4000 characters, not only white space or invisible characters. Kept byte for byte:
/// never trimmed (the web app isolates its bidirectional controls when it shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);
string_newtype!(MessageBody);

impl MessageBody {
    pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        let blank = s.chars().all(|c| c.is_whitespace() || is_invisible(c));
        if !char_count_in(&s, &MESSAGE_CHARS) || blank {
            return Err(NameError::new(
                ErrorKind::InvalidMessageBody,
                format!(
                    "a message has {} to {} characters and not only white space or invisible characters",
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
    fn invisible_and_reordering_characters_are_refused_in_names() {
        for bad in [
            "\u{115F}\u{115F}\u{115F}",
            "al\u{200B}ice",
            "bob\u{202E}",
            "\u{3164}abc",
        ] {
            let err = Username::parse(bad).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::InvalidUsername), "{bad:?}");
            assert!(RoomName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[cfg(feature = "confusables")]
    #[test]
    fn look_alikes_share_a_key_and_mixed_scripts_are_refused() {
        let key = |s: &str| Username::parse(s).map(|u| u.key()).ok();
        let alice = key("alice");
        for twin in ["ALICE", "ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞", "a1ice", "аlice"] {
            assert_eq!(key(twin), alice, "{twin:?}");
        }
        assert_eq!(
            Username::parse("ａｌｉｃｅ")
                .map(Username::into_inner)
                .ok()
                .as_deref(),
            Some("alice")
        );
        for mixed in ["аlice", "nаtterbot"] {
            let err = Username::parse_for_signup(mixed).err().map(|e| e.kind);
            assert_eq!(err, Some(ErrorKind::InvalidUsername), "{mixed:?}");
        }
        assert!(RoomName::parse("gеneral").is_err());
        assert_eq!(
            RoomName::parse("general").map(|r| r.key()).ok(),
            Some(name_key("general"))
        );
        // One script at a time, and Latin with Han, are fine.
        for ok in ["Zoë", "名前です", "иван", "ιωάννης", "team名前"] {
            assert!(Username::parse_for_signup(ok).is_ok(), "{ok:?}");
        }
        let err = Username::parse_for_signup("NatterBot")
            .err()
            .map(|e| e.kind);
        assert_eq!(err, Some(ErrorKind::ReservedUsername));
    }

    #[test]
    fn username_key_folds_case_and_composition() {
        let key = |s: &str| Username::parse(s).ok().map(|u| u.key());
        assert_eq!(key("Ärger.X"), key("ärger.x"));
        // A composed and a decomposed "é" are one name (on the server).
        #[cfg(feature = "confusables")]
        assert_eq!(key("caf\u{e9}"), key("cafe\u{301}"));
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
        for bad in [
            String::new(),
            " \n\t ".into(),
            "x".repeat(4001),
            "\u{200B}\u{200B}".into(),
            "\u{3164}".into(),
            "\u{202E}\u{2066} ".into(),
        ] {
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
