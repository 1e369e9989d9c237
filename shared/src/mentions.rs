//! Mentions: `@username` and `@room` in a message's text. One parser for the server, which
//! stores whom a message mentions when it is written, and the web app, which shows them.
//!
//! A mention is `@` followed by a name of 3 to 32 letters, digits, `_`, `-` or `.` (the
//! username rules), at the start of the text or after a character that cannot be part of a
//! name (so `mail@example.com` mentions nobody). Dots at the end belong to the sentence, not
//! the name (`thanks @alice.`). Names match case-insensitively. `@room` means everyone in the
//! room, so a user called `room` cannot be mentioned alone. Code (inline or blocks) and link
//! texts mention nobody: mentions are looked for in the same Markdown text the web app shows
//! ([`crate::markdown`]), where each becomes an [`crate::markdown::Inline::Mention`].

use crate::limits::{MAX_MENTIONS, USERNAME_CHARS};
use crate::markdown::{Block, Inline};
use std::ops::Range;

/// The name that mentions everyone in the room.
pub const ROOM: &str = "room";

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || "_-.".contains(c)
}

/// The mentions in plain text, in order: where each `@name` is, and the name.
pub fn scan(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts = c == '@' && !prev.is_some_and(|p| is_name_char(p) || p == '@');
        prev = Some(c);
        if !starts {
            continue;
        }
        let from = at + 1;
        let mut to = from;
        while let Some(&(i, n)) = chars.peek() {
            if !is_name_char(n) || crate::names::is_invisible(n) {
                break;
            }
            to = i + n.len_utf8();
            prev = Some(n);
            chars.next();
        }
        let name = text[from..to].trim_end_matches('.');
        if USERNAME_CHARS.contains(&name.chars().count()) {
            found.push((at..from + name.len(), name));
        }
    }
    found
}

/// Whether a message that mentions the users `ids` by name, and the whole room if
/// `everyone`, mentions `user`.
pub fn includes(ids: &[crate::UserId], everyone: bool, user: crate::UserId) -> bool {
    everyone || ids.contains(&user)
}

/// Whom a message mentions: everyone in the room, and names (each once, ignoring case, at
/// most [`MAX_MENTIONS`] of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentioned {
    pub room: bool,
    pub names: Vec<String>,
}

impl Mentioned {
    pub fn is_empty(&self) -> bool {
        !self.room && self.names.is_empty()
    }

    fn add(&mut self, name: &str) {
        if name.eq_ignore_ascii_case(ROOM) {
            self.room = true;
        } else if self.names.len() < MAX_MENTIONS
            && !self
                .names
                .iter()
                .any(|n| n.to_lowercase() == name.to_lowercase())
        {
            self.names.push(name.to_owned());
        }
    }
}

/// Whom the message `body` mentions, as the web app shows it. Cheap for the many messages
/// without an `@`: they are not parsed.
pub fn in_body(body: &str) -> Mentioned {
    let mut out = Mentioned::default();
    if body.contains('@') {
        blocks(&crate::markdown::parse(body), &mut out);
    }
    out
}

fn blocks(list: &[Block], out: &mut Mentioned) {
    for block in list {
        match block {
            Block::Paragraph(v) | Block::Heading(v) => inlines(v, out),
            Block::Quote(v) => blocks(v, out),
            Block::List { items, .. } => items.iter().for_each(|item| blocks(item, out)),
            Block::Code { .. } | Block::Rule => {}
        }
    }
}

fn inlines(list: &[Inline], out: &mut Mentioned) {
    for inline in list {
        match inline {
            Inline::Mention(name) => out.add(name),
            Inline::Emphasis(v) | Inline::Strong(v) | Inline::Strikethrough(v) => inlines(v, out),
            Inline::Text(_) | Inline::Code(_) | Inline::Link { .. } | Inline::Break => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        scan(text).into_iter().map(|(_, n)| n).collect()
    }

    #[test]
    fn names_after_an_at_sign_that_starts_a_word() {
        assert_eq!(
            names("@alice hi @Bob_2, and @c.d."),
            ["alice", "Bob_2", "c.d"]
        );
        assert_eq!(names("mail@example.com @@alice @ab @"), Vec::<&str>::new());
        assert_eq!(names("(@alice) «@élodie»"), ["alice", "élodie"]);
        let long = format!("@{}", "a".repeat(33));
        assert!(names(&long).is_empty());
        let text = "hey @alice!";
        let (range, _) = &scan(text)[0];
        assert_eq!(&text[range.clone()], "@alice");
    }

    #[test]
    fn a_message_mentions_people_once_and_the_room_and_not_in_code_or_links() {
        let m = in_body(
            "@alice and @ALICE, @room\n\n`@bob` [@carol](https://x.org)\n```\n@dave\n```\n> **@erin**",
        );
        assert!(m.room);
        assert_eq!(m.names, ["alice", "erin"]);
        assert!(in_body("no one here").is_empty());
        let many: String = (0..80).map(|i| format!("@user{i} ")).collect();
        assert_eq!(in_body(&many).names.len(), MAX_MENTIONS);
    }
}
