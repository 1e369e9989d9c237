//! One room's message list as the reader sees it: stored messages in id order, the reader's
//! own messages waiting for their ack, and private notes (command replies). Pure logic, no
//! DOM, so that the merging rules are unit-tested.
//!
//! The rules: a stored message appears once however often it arrives (history page, live
//! frame, catch-up after a reconnect); an own message is one entry from the moment it is
//! typed until it is stored, matched by its `client_id`.

use chrono::{DateTime, Utc};
use natter_shared::{Message, MessageId, MessageKind};

/// Where an entry stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    Stored,
    /// Sent (or waiting for the connection), not yet acknowledged.
    Pending,
    /// Refused or undeliverable; can be retried with the same `client_id`.
    Failed(String),
    /// A private reply to this reader (a command's notice): never stored on the server.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: Option<MessageId>,
    pub client_id: Option<String>,
    pub author: String,
    pub kind: MessageKind,
    pub body: String,
    /// `None` until the server has stored it.
    pub created_at: Option<DateTime<Utc>>,
    /// When its author last changed it.
    pub edited_at: Option<DateTime<Utc>>,
    /// The message it answers.
    pub reply_to: Option<natter_shared::ReplyTo>,
    pub reactions: Vec<natter_shared::Reaction>,
    /// Whom it mentions by name, and whether it mentions the whole room.
    pub mentions: Vec<natter_shared::UserId>,
    pub mentions_room: bool,
    /// Its files (for an own pending message, the uploads it will carry).
    pub attachments: Vec<natter_shared::Attachment>,
    pub status: Status,
    /// Sort position: stored entries by id; notes just after the last message seen when
    /// they came; pending ones last, in the order sent.
    order: (i64, u32),
}

impl Entry {
    /// A key that stays the same while an own message goes from pending to stored, so the
    /// list does not redraw it.
    pub fn key(&self) -> String {
        match (&self.client_id, self.id) {
            (Some(client_id), _) => format!("c:{}:{client_id}", self.author),
            (None, Some(id)) => format!("m:{id}"),
            (None, None) => format!("n:{}:{}", self.order.0, self.order.1),
        }
    }

    /// What the list keys its rows by: the identity plus everything that changes how a row
    /// looks (its status, and the id and time the server's copy brings), so that a row is
    /// drawn again when, and only when, one of those changes.
    pub fn row_key(&self) -> RowKey {
        (
            self.key(),
            self.status.clone(),
            self.id,
            self.created_at.is_some(),
            self.edited_at,
            self.reactions
                .iter()
                .map(|r| (r.emoji.clone(), r.count, r.users.clone()))
                .collect(),
        )
    }

    /// Whether it mentions `user` (by name or `@room`) and is someone else's: `me` is the
    /// user's name.
    pub fn mentions_me(&self, me: &str, user: natter_shared::UserId) -> bool {
        self.author != me
            && natter_shared::mentions::includes(&self.mentions, self.mentions_room, user)
    }

    pub fn is_pending(&self) -> bool {
        self.status == Status::Pending
    }

    fn stored(message: Message) -> Self {
        Self {
            order: (message.id.0, 0),
            id: Some(message.id),
            client_id: message.client_id,
            author: message.author,
            kind: message.kind,
            body: message.body,
            created_at: Some(message.created_at),
            edited_at: message.edited_at,
            reply_to: message.reply_to,
            reactions: message.reactions,
            mentions: message.mentions,
            mentions_room: message.mentions_room,
            attachments: message.attachments,
            status: Status::Stored,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    entries: Vec<Entry>,
    /// Whether the first page of history has been read.
    pub loaded: bool,
    /// Whether the oldest message of the room is in the list.
    pub complete: bool,
    /// Whether the list stops short of the room's newest message (it was opened in the
    /// middle, at a search result): live messages are not added until it reaches the end.
    pub detached: bool,
    seq: u32,
}

impl Timeline {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The largest id received from the server: where a catch-up (`join` with `since`)
    /// starts. An own message known only from its ack does not count, so that the catch-up
    /// brings it (with the server's time) too.
    pub fn last_id(&self) -> Option<MessageId> {
        self.entries
            .iter()
            .rev()
            .filter(|e| e.created_at.is_some())
            .find_map(|e| e.id)
    }

    /// The smallest stored id: the cursor for older history.
    pub fn first_id(&self) -> Option<MessageId> {
        self.entries.iter().find_map(|e| e.id)
    }

    /// Adds a stored message; `false` when it was already there (then it is refreshed).
    /// An own pending entry with the same author and `client_id` becomes this message.
    pub fn insert(&mut self, message: Message) -> bool {
        if let Some(client_id) = &message.client_id {
            self.entries.retain(|e| {
                !(e.id.is_none()
                    && e.client_id.as_ref() == Some(client_id)
                    && e.author == message.author)
            });
        }
        let entry = Entry::stored(message);
        match self.entries.binary_search_by(|e| e.order.cmp(&entry.order)) {
            Ok(at) => {
                self.entries[at] = entry;
                false
            }
            Err(at) => {
                self.entries.insert(at, entry);
                true
            }
        }
    }

    /// Merges a page of history (oldest first). With `older`, a page shorter than `limit`
    /// means the room's first message has been reached.
    pub fn merge_page(&mut self, page: Vec<Message>, limit: usize, older: bool) -> usize {
        let full = page.len() >= limit;
        let added = page.into_iter().filter(|m| self.insert(m.clone())).count();
        if !older {
            self.loaded = true;
        }
        if !full {
            self.complete = true;
        }
        added
    }

    /// Adds a message that came live; `false` when it was there already, or when the list
    /// is [`detached`](Self::detached) from the newest messages (it would leave a gap).
    pub fn insert_live(&mut self, message: Message) -> bool {
        if self.detached && !self.has(message.id) {
            return false;
        }
        self.insert(message)
    }

    /// Adds a page of messages after the last one; a short page reaches the newest message,
    /// and the list is attached again. Returns whether it now is.
    pub fn merge_newer(&mut self, page: Vec<Message>, limit: usize) -> bool {
        if page.len() < limit {
            self.detached = false;
        }
        for message in page {
            self.insert(message);
        }
        !self.detached
    }

    /// Shows an own message at once, before the server has it.
    pub fn add_pending(
        &mut self,
        author: &str,
        body: &str,
        client_id: &str,
        reply_to: Option<natter_shared::ReplyTo>,
        attachments: Vec<natter_shared::Attachment>,
    ) {
        self.seq += 1;
        self.entries.push(Entry {
            attachments,
            id: None,
            client_id: Some(client_id.to_owned()),
            author: author.to_owned(),
            kind: MessageKind::User,
            body: body.to_owned(),
            created_at: None,
            edited_at: None,
            reply_to,
            reactions: Vec::new(),
            mentions: Vec::new(),
            mentions_room: false,
            status: Status::Pending,
            order: (i64::MAX, self.seq),
        });
    }

    /// A private reply, placed after the messages seen so far.
    pub fn add_note(&mut self, body: &str) {
        self.seq += 1;
        let after = self
            .entries
            .iter()
            .filter_map(|e| e.id)
            .max()
            .map_or(0, |id| id.0);
        let order = (after, self.seq);
        let at = self.entries.partition_point(|e| e.order <= order);
        self.entries.insert(
            at,
            Entry {
                id: None,
                client_id: None,
                author: natter_shared::limits::BOT_USERNAME.to_owned(),
                kind: MessageKind::System,
                body: body.to_owned(),
                created_at: None,
                edited_at: None,
                reply_to: None,
                reactions: Vec::new(),
                mentions: Vec::new(),
                mentions_room: false,
                attachments: Vec::new(),
                status: Status::Note,
                order,
            },
        );
    }

    /// Shows an edited message's new text; `false` if it is not in the list.
    pub fn update(&mut self, message: Message) -> bool {
        match self.entries.iter_mut().find(|e| e.id == Some(message.id)) {
            Some(entry) => {
                entry.body = message.body;
                entry.edited_at = message.edited_at;
                true
            }
            None => false,
        }
    }

    /// Counts `user`'s reaction with `emoji` to message `id` in (`added`) or out.
    pub fn react(&mut self, id: MessageId, emoji: &str, user: &str, added: bool) {
        let Some(entry) = self.entries.iter_mut().find(|e| e.id == Some(id)) else {
            return;
        };
        let at = entry.reactions.iter().position(|r| r.emoji == emoji);
        match (at, added) {
            (Some(at), true) => {
                let r = &mut entry.reactions[at];
                if !r.users.iter().any(|u| u == user) {
                    r.count += 1;
                    if r.users.len() < natter_shared::REACTION_USERS_SHOWN {
                        r.users.push(user.to_owned());
                    }
                }
            }
            (None, true) => entry.reactions.push(natter_shared::Reaction {
                emoji: emoji.to_owned(),
                count: 1,
                users: vec![user.to_owned()],
            }),
            (Some(at), false) => {
                let r = &mut entry.reactions[at];
                r.count = r.count.saturating_sub(1);
                r.users.retain(|u| u != user);
                if r.count == 0 {
                    entry.reactions.remove(at);
                }
            }
            (None, false) => {}
        }
    }

    /// Takes a deleted message out of the list.
    pub fn remove(&mut self, id: MessageId) {
        self.entries.retain(|e| e.id != Some(id));
    }

    fn pending_mut(&mut self, client_id: &str) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .find(|e| e.id.is_none() && e.client_id.as_deref() == Some(client_id))
    }

    /// Whether an own message with this `client_id` waits here.
    pub fn has_pending(&self, client_id: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.id.is_none() && e.client_id.as_deref() == Some(client_id))
    }

    /// The server stored the message with this `client_id` as `id`. Its `message` frame may
    /// come before or after; either way one entry remains.
    pub fn ack(&mut self, client_id: &str, id: MessageId) {
        if self.entries.iter().any(|e| e.id == Some(id)) {
            self.drop_pending(client_id);
            return;
        }
        let Some(at) = self
            .entries
            .iter()
            .position(|e| e.id.is_none() && e.client_id.as_deref() == Some(client_id))
        else {
            return;
        };
        let mut entry = self.entries.remove(at);
        entry.id = Some(id);
        entry.status = Status::Stored;
        entry.order = (id.0, 0);
        if let Err(at) = self.entries.binary_search_by(|e| e.order.cmp(&entry.order)) {
            self.entries.insert(at, entry);
        }
    }

    /// Removes an own message that turned out to be a command answered privately.
    pub fn drop_pending(&mut self, client_id: &str) {
        self.entries
            .retain(|e| !(e.id.is_none() && e.client_id.as_deref() == Some(client_id)));
    }

    pub fn fail(&mut self, client_id: &str, reason: &str) {
        if let Some(entry) = self.pending_mut(client_id) {
            entry.status = Status::Failed(reason.to_owned());
        }
    }

    /// Marks a failed message pending again; its body and `client_id`, to send once more.
    pub fn retry(&mut self, client_id: &str) -> Option<Outgoing> {
        let entry = self.pending_mut(client_id)?;
        entry.status = Status::Pending;
        Some(Outgoing {
            body: entry.body.clone(),
            client_id: client_id.to_owned(),
            reply_to: entry.reply_to.as_ref().map(|r| r.id),
            attachments: entry.attachments.iter().map(|a| a.id).collect(),
        })
    }

    /// Own messages still waiting for their ack, in the order sent: resent after a reconnect.
    pub fn pending(&self) -> Vec<Outgoing> {
        self.entries
            .iter()
            .filter(|e| e.is_pending())
            .filter_map(|e| {
                Some(Outgoing {
                    body: e.body.clone(),
                    client_id: e.client_id.clone()?,
                    reply_to: e.reply_to.as_ref().map(|r| r.id),
                    attachments: e.attachments.iter().map(|a| a.id).collect(),
                })
            })
            .collect()
    }

    /// Whether the message `id` is in the list.
    pub fn has(&self, id: MessageId) -> bool {
        self.entries.iter().any(|e| e.id == Some(id))
    }

    /// Keeps only the newest `keep` entries; the room's start is then no longer in the list,
    /// and scrolling up reads it again. Returns whether any were dropped.
    pub fn keep_newest(&mut self, keep: usize) -> bool {
        let over = self.entries.len().saturating_sub(keep);
        if over == 0 {
            return false;
        }
        self.entries.drain(..over);
        self.complete = false;
        true
    }
}

/// What a row is drawn from: when it changes, the row is drawn again.
pub type RowKey = (
    String,
    Status,
    Option<MessageId>,
    bool,
    Option<DateTime<Utc>>,
    Vec<(String, u32, Vec<String>)>,
);

/// An own message to send (again) as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub body: String,
    pub client_id: String,
    pub reply_to: Option<MessageId>,
    pub attachments: Vec<natter_shared::UploadId>,
}

/// Messages for the web app's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{TimeZone, Utc};
    use natter_shared::{Message, MessageId, MessageKind, RoomId};

    /// A stored plain message `id` in room `room`, sent `id` seconds after a fixed instant.
    pub fn message(room: i64, id: i64, author: &str, client_id: Option<&str>) -> Message {
        Message {
            id: MessageId(id),
            room_id: RoomId(room),
            author: author.into(),
            kind: MessageKind::User,
            body: format!("message {id}"),
            created_at: Utc
                .timestamp_opt(1_700_000_000 + id, 0)
                .single()
                .unwrap_or_default(),
            client_id: client_id.map(Into::into),
            edited_at: None,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            mentions_room: false,
            attachments: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn message(id: i64, author: &str, client_id: Option<&str>) -> Message {
        fixtures::message(1, id, author, client_id)
    }

    fn ids(t: &Timeline) -> Vec<Option<i64>> {
        t.entries().iter().map(|e| e.id.map(|id| id.0)).collect()
    }

    #[wasm_bindgen_test]
    fn keeping_the_newest_drops_the_oldest_and_the_start() {
        let mut t = Timeline::default();
        t.merge_page(
            (1..=5).map(|id| message(id, "bob", None)).collect(),
            25,
            false,
        );
        t.add_pending("ann", "hi", "c1", None, Vec::new());
        assert!(t.complete);
        assert!(!t.keep_newest(6));
        assert!(t.keep_newest(3));
        assert_eq!(ids(&t), [Some(4), Some(5), None]);
        assert!(!t.complete, "scrolling up reads the dropped messages again");
        assert_eq!(t.first_id(), Some(MessageId(4)));
        assert!(t.has_pending("c1"));
    }

    #[wasm_bindgen_test]
    fn a_message_arriving_twice_is_shown_once_in_id_order() {
        let mut t = Timeline::default();
        assert!(t.insert(message(5, "bob", None)));
        assert!(t.insert(message(3, "bob", None)));
        assert!(
            !t.insert(message(5, "bob", None)),
            "the live copy of a replayed message"
        );
        assert!(t.insert(message(4, "carol", None)));
        assert_eq!(ids(&t), [Some(3), Some(4), Some(5)]);
        assert_eq!(
            (t.first_id(), t.last_id()),
            (Some(MessageId(3)), Some(MessageId(5)))
        );
    }

    #[wasm_bindgen_test]
    fn pages_merge_with_live_messages_and_mark_the_start() {
        let mut t = Timeline::default();
        t.insert(message(30, "bob", None));
        let latest: Vec<Message> = (6..=30).map(|id| message(id, "bob", None)).collect();
        assert_eq!(t.merge_page(latest, 25, false), 24, "30 was already there");
        assert!(t.loaded && !t.complete);
        let older: Vec<Message> = (1..=5).map(|id| message(id, "bob", None)).collect();
        t.merge_page(older, 25, true);
        assert!(t.complete, "a short older page is the room's start");
        let expected: Vec<Option<i64>> = (1..=30).map(Some).collect();
        assert_eq!(ids(&t), expected);
    }

    #[wasm_bindgen_test]
    fn an_own_message_stays_one_entry_whether_ack_or_echo_comes_first() {
        // Echo first, then the ack.
        let mut t = Timeline::default();
        t.add_pending("alice", "hi", "c-1", None, Vec::new());
        assert!(t.entries()[0].is_pending());
        let key = t.entries()[0].key();
        t.insert(message(7, "alice", Some("c-1")));
        t.ack("c-1", MessageId(7));
        assert_eq!(ids(&t), [Some(7)]);
        assert_eq!(t.entries()[0].status, Status::Stored);
        assert_eq!(t.entries()[0].key(), key, "the row keeps its key");

        // Ack first, then the echo.
        let mut t = Timeline::default();
        t.add_pending("alice", "hi", "c-2", None, Vec::new());
        t.ack("c-2", MessageId(8));
        assert_eq!(ids(&t), [Some(8)]);
        assert_eq!(
            t.last_id(),
            None,
            "an ack alone does not move the catch-up point"
        );
        assert!(!t.insert(message(8, "alice", Some("c-2"))));
        assert_eq!(t.last_id(), Some(MessageId(8)));
        assert_eq!(ids(&t), [Some(8)]);
        assert!(
            t.entries()[0].created_at.is_some(),
            "the echo brings the server's time"
        );
    }

    #[wasm_bindgen_test]
    fn another_authors_client_id_does_not_confirm_mine() {
        let mut t = Timeline::default();
        t.add_pending("alice", "hi", "c-1", None, Vec::new());
        t.insert(message(3, "bob", Some("c-1")));
        assert_eq!(ids(&t), [Some(3), None]);
        assert!(t.has_pending("c-1"));
    }

    #[wasm_bindgen_test]
    fn edits_change_the_text_and_the_row_key_and_deletions_remove() {
        let mut t = Timeline::default();
        t.insert(message(1, "bob", None));
        t.insert(message(2, "bob", None));
        let before = t.entries()[0].row_key();
        let mut edited = message(1, "bob", None);
        edited.body = "fixed".into();
        edited.edited_at = Some(edited.created_at);
        assert!(t.update(edited));
        assert_eq!(t.entries()[0].body, "fixed");
        assert_ne!(t.entries()[0].row_key(), before, "the row is drawn again");
        assert!(
            !t.update(message(9, "bob", None)),
            "not here: nothing to do"
        );
        t.remove(MessageId(2));
        assert_eq!(ids(&t), [Some(1)]);
    }

    #[wasm_bindgen_test]
    fn pending_messages_stay_last_and_are_resent_in_order() {
        let mut t = Timeline::default();
        t.add_pending("alice", "one", "c-1", None, Vec::new());
        t.add_pending("alice", "two", "c-2", None, Vec::new());
        t.insert(message(9, "bob", None));
        assert_eq!(ids(&t), [Some(9), None, None]);
        let resend: Vec<String> = t.pending().into_iter().map(|o| o.body).collect();
        assert_eq!(resend, ["one", "two"]);
    }

    #[wasm_bindgen_test]
    fn a_failed_message_is_retried_with_its_client_id() {
        let mut t = Timeline::default();
        t.add_pending("alice", "hello", "c-1", None, Vec::new());
        t.fail("c-1", "too many messages");
        assert_eq!(
            t.entries()[0].status,
            Status::Failed("too many messages".into())
        );
        assert!(
            t.pending().is_empty(),
            "failed ones are not resent on their own"
        );
        assert_eq!(
            t.retry("c-1"),
            Some(Outgoing {
                body: "hello".into(),
                client_id: "c-1".into(),
                reply_to: None,
                attachments: Vec::new(),
            })
        );
        assert!(t.entries()[0].is_pending());
        assert_eq!(t.retry("unknown"), None);
    }

    #[wasm_bindgen_test]
    fn a_command_answered_privately_becomes_a_note_after_what_was_seen() {
        let mut t = Timeline::default();
        t.insert(message(1, "bob", None));
        t.add_pending("alice", "/help", "c-1", None, Vec::new());
        t.drop_pending("c-1");
        t.add_note("Commands: …");
        t.insert(message(2, "bob", None));
        let kinds: Vec<(Option<i64>, Status)> = t
            .entries()
            .iter()
            .map(|e| (e.id.map(|i| i.0), e.status.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Some(1), Status::Stored),
                (None, Status::Note),
                (Some(2), Status::Stored)
            ]
        );
    }
}
