//! What a frame from the server does to the app's state, as pure functions over plain data:
//! [`apply`] changes one room's [`RoomView`] and says what happened, [`count`] and [`read`]
//! change that room's entry in the room list. Every case is a unit test below.
//!
//! [`Chat`](crate::chat::Chat) keeps one signal per room view, routes each frame to its room
//! with [`room_of`], and so a frame for one room wakes only what shows that room; the room
//! list is told of a change only when a count it shows changed.

use crate::timeline::Timeline;
use natter_shared::ws::ServerFrame;
use natter_shared::{Message, MessageId, Room, RoomId, UserId};
use std::collections::BTreeSet;

/// How long a "typing" stays shown without another.
pub const TYPING_SHOWN_MS: f64 = 4000.0;

/// One room as this page knows it: its messages, who is online and typing, where the
/// reader is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    pub timeline: Timeline,
    pub online: BTreeSet<String>,
    /// Who is typing, until when (ms since the epoch).
    pub typing: Vec<(String, f64)>,
    /// The read marker when the room was opened with unread messages: the "New messages"
    /// line goes above the first message after it.
    pub unread_from: Option<MessageId>,
    /// The last marker this page sent, so that each is sent once.
    pub read_sent: Option<MessageId>,
    pub loading: bool,
    pub error: Option<String>,
    /// When this page last said it was typing here (ms since the epoch).
    pub typed_at: f64,
    /// The message the room was opened at (a search result): shown highlighted.
    pub focus: Option<MessageId>,
    /// A message to bring into view once the list has drawn it (taken by the list).
    pub scroll_to: Option<MessageId>,
}

impl RoomView {
    /// Forgets typing indicators that ran out by `now`; whether any did.
    pub fn expire_typing(&mut self, now: f64) -> bool {
        let before = self.typing.len();
        self.typing.retain(|(_, until)| *until >= now);
        self.typing.len() != before
    }

    /// Whether a typing indicator runs out by `now`.
    pub fn typing_stale(&self, now: f64) -> bool {
        self.typing.iter().any(|(_, until)| *until < now)
    }
}

/// Who reads, and how, when a frame comes.
#[derive(Debug, Clone)]
pub struct Reader {
    pub me: String,
    pub me_id: UserId,
    /// ms since the epoch.
    pub now: f64,
    /// The frame's room is the open one, in a visible tab, scrolled to its newest message:
    /// a message that comes now is read as it comes.
    pub reading: bool,
}

/// What applying a frame to a room did, for the room list and the page around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Applied {
    /// Nothing the room list counts.
    #[default]
    Changed,
    /// A stored message came.
    Message {
        id: MessageId,
        /// Not seen before (a replay after a reconnect is not).
        fresh: bool,
        mine: bool,
        mentioned: bool,
    },
}

/// The room a frame is about, if it is about one room's view. `ack`s and `error`s that
/// answer a message name no room: the caller finds the room that has that message pending.
pub fn room_of(frame: &ServerFrame) -> Option<RoomId> {
    match frame {
        ServerFrame::Joined { room_id, .. }
        | ServerFrame::Presence { room_id, .. }
        | ServerFrame::Typing { room_id, .. }
        | ServerFrame::Notice { room_id, .. }
        | ServerFrame::Deleted { room_id, .. }
        | ServerFrame::Reaction { room_id, .. } => Some(*room_id),
        ServerFrame::Message { message } | ServerFrame::Edited { message } => Some(message.room_id),
        _ => None,
    }
}

/// Whether `message` mentions the reader, by name or `@room`, and is not their own.
pub fn mentions(message: &Message, me: &str, me_id: UserId) -> bool {
    message.author != me
        && natter_shared::mentions::includes(&message.mentions, message.mentions_room, me_id)
}

/// Applies `frame` to its room's `view`.
pub fn apply(view: &mut RoomView, frame: ServerFrame, reader: &Reader) -> Applied {
    match frame {
        ServerFrame::Message { message } => {
            let (id, mine) = (message.id, message.author == reader.me);
            let mentioned = mentions(&message, &reader.me, reader.me_id);
            let author = message.author.clone();
            view.typing.retain(|(who, _)| *who != author);
            let fresh = view.timeline.insert_live(message);
            return Applied::Message {
                id,
                fresh,
                mine,
                mentioned,
            };
        }
        ServerFrame::Joined { online, .. } => view.online = online.into_iter().collect(),
        ServerFrame::Presence { user, online, .. } => {
            if online {
                view.online.insert(user);
            } else {
                view.online.remove(&user);
            }
        }
        ServerFrame::Typing { user, .. } => {
            view.typing.retain(|(who, _)| *who != user);
            view.typing.push((user, reader.now + TYPING_SHOWN_MS));
        }
        ServerFrame::Notice {
            body, client_id, ..
        } => {
            if let Some(client_id) = client_id {
                view.timeline.drop_pending(&client_id);
            }
            view.timeline.add_note(&body);
        }
        ServerFrame::Edited { message } => {
            view.timeline.update(message);
        }
        ServerFrame::Deleted { message_id, .. } => view.timeline.remove(message_id),
        ServerFrame::Reaction {
            message_id,
            emoji,
            user,
            added,
            ..
        } => view.timeline.react(message_id, &emoji, &user, added),
        ServerFrame::Ack {
            client_id: Some(client_id),
            message_id,
        } => view.timeline.ack(&client_id, message_id),
        ServerFrame::Error {
            message,
            client_id: Some(client_id),
            ..
        } => view.timeline.fail(&client_id, &message),
        _ => {}
    }
    Applied::Changed
}

/// Counts what `applied` brought into the room list's entry for its room. Returns whether
/// anything the list shows changed (its newest id alone does not).
pub fn count(room: &mut Room, applied: Applied, reading: bool) -> bool {
    let Applied::Message {
        id,
        fresh,
        mine,
        mentioned,
    } = applied
    else {
        return false;
    };
    room.last_message_id = room.last_message_id.max(Some(id));
    if fresh && !mine && !reading && room.last_read_id < Some(id) {
        room.unread = room.unread.saturating_add(1);
        room.mentions += u32::from(mentioned);
        return true;
    }
    false
}

/// The room's read marker moved to `id` (here or on another device): what is left unread is
/// counted again from the messages `view` holds, or the room is clear when it was read to its
/// end. A marker behind the current one changes nothing.
pub fn read(room: &mut Room, id: MessageId, view: Option<&RoomView>, me: &str, me_id: UserId) {
    if room.last_read_id >= Some(id) {
        return;
    }
    room.last_read_id = Some(id);
    if room.last_message_id.is_none_or(|last| last <= id) {
        (room.unread, room.mentions) = (0, 0);
        return;
    }
    // Counting needs every message after the marker on this page.
    let Some(timeline) = view
        .map(|v| &v.timeline)
        .filter(|t| t.first_id().is_some_and(|first| first <= id))
    else {
        return;
    };
    let after = timeline
        .entries()
        .iter()
        .filter(|e| e.id.is_some_and(|m| m > id) && e.author != me && e.created_at.is_some());
    let (mut unread, mut mentions) = (0, 0);
    for e in after {
        unread += 1;
        mentions += u32::from(e.mentions_me(me, me_id));
    }
    (room.unread, room.mentions) = (unread, mentions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Status;

    use natter_shared::RoomKind;
    use wasm_bindgen_test::wasm_bindgen_test;

    const ROOM: RoomId = RoomId(7);

    fn reader(reading: bool) -> Reader {
        Reader {
            me: "ann".into(),
            me_id: UserId(1),
            now: 1_000.0,
            reading,
        }
    }

    fn message(id: i64, author: &str) -> Message {
        crate::timeline::fixtures::message(ROOM.0, id, author, None)
    }

    fn mentioning(id: i64, author: &str) -> Message {
        Message {
            mentions: vec![UserId(1)],
            ..message(id, author)
        }
    }

    fn room() -> Room {
        Room {
            id: ROOM,
            name: "general".into(),
            kind: RoomKind::Public,
            peer: None,
            topic: None,
            member_count: 2,
            members: Vec::new(),
            role: None,
            last_message_id: None,
            last_read_id: None,
            unread: 0,
            mentions: 0,
            notify: None,
        }
    }

    /// Applies `frames` to a fresh view and room entry the way `Chat` does.
    fn run(frames: Vec<ServerFrame>, reading: bool) -> (RoomView, Room) {
        let (mut view, mut entry) = (RoomView::default(), room());
        for frame in frames {
            let applied = apply(&mut view, frame, &reader(reading));
            count(&mut entry, applied, reading);
        }
        (view, entry)
    }

    fn live(message: Message) -> ServerFrame {
        ServerFrame::Message { message }
    }

    #[wasm_bindgen_test]
    fn frames_are_routed_to_their_room() {
        assert_eq!(room_of(&live(message(1, "bob"))), Some(ROOM));
        let typing = ServerFrame::Typing {
            room_id: RoomId(3),
            user: "bob".into(),
        };
        assert_eq!(room_of(&typing), Some(RoomId(3)));
        let ack = ServerFrame::Ack {
            client_id: Some("c".into()),
            message_id: MessageId(1),
        };
        assert_eq!(room_of(&ack), None);
    }

    #[wasm_bindgen_test]
    fn others_messages_count_as_unread_and_mentions_apart() {
        let (view, entry) = run(
            vec![live(message(1, "bob")), live(mentioning(2, "bob"))],
            false,
        );
        assert_eq!(view.timeline.entries().len(), 2);
        assert_eq!((entry.unread, entry.mentions), (1 + 1, 1));
        assert_eq!(entry.last_message_id, Some(MessageId(2)));
    }

    #[wasm_bindgen_test]
    fn own_messages_messages_read_as_they_come_and_replays_do_not_count() {
        let (_, entry) = run(vec![live(message(1, "ann"))], false);
        assert_eq!(entry.unread, 0, "own message");
        let (_, entry) = run(vec![live(mentioning(1, "bob"))], true);
        assert_eq!((entry.unread, entry.mentions), (0, 0), "read as it came");
        let (_, entry) = run(
            vec![live(message(1, "bob")), live(message(1, "bob"))],
            false,
        );
        assert_eq!(entry.unread, 1, "a replay after a reconnect");
        assert_eq!(entry.last_message_id, Some(MessageId(1)));
    }

    #[wasm_bindgen_test]
    fn a_message_at_or_before_the_marker_is_not_news() {
        let (mut view, mut entry) = (RoomView::default(), room());
        entry.last_read_id = Some(MessageId(5));
        let applied = apply(&mut view, live(message(4, "bob")), &reader(false));
        assert!(!count(&mut entry, applied, false));
        assert_eq!(entry.unread, 0);
    }

    #[wasm_bindgen_test]
    fn a_message_ends_its_authors_typing() {
        let typing = ServerFrame::Typing {
            room_id: ROOM,
            user: "bob".into(),
        };
        let (view, _) = run(vec![typing.clone()], false);
        assert_eq!(
            view.typing,
            vec![("bob".to_owned(), 1_000.0 + TYPING_SHOWN_MS)]
        );
        let (view, _) = run(vec![typing, live(message(1, "bob"))], false);
        assert!(view.typing.is_empty());
        let mut view = RoomView {
            typing: vec![("bob".into(), 10.0), ("cy".into(), 30.0)],
            ..RoomView::default()
        };
        assert!(view.typing_stale(20.0));
        assert!(view.expire_typing(20.0));
        assert_eq!(view.typing.len(), 1);
        assert!(!view.expire_typing(20.0));
    }

    #[wasm_bindgen_test]
    fn presence_follows_joined_and_presence_frames() {
        let (view, _) = run(
            vec![
                ServerFrame::Joined {
                    room_id: ROOM,
                    online: vec!["bob".into(), "cy".into()],
                },
                ServerFrame::Presence {
                    room_id: ROOM,
                    user: "cy".into(),
                    online: false,
                },
                ServerFrame::Presence {
                    room_id: ROOM,
                    user: "dee".into(),
                    online: true,
                },
            ],
            false,
        );
        let online: Vec<&str> = view.online.iter().map(String::as_str).collect();
        assert_eq!(online, ["bob", "dee"]);
    }

    #[wasm_bindgen_test]
    fn acks_store_and_errors_fail_a_pending_message() {
        let mut view = RoomView::default();
        view.timeline
            .add_pending("ann", "hello", "c1", None, Vec::new());
        view.timeline
            .add_pending("ann", "again", "c2", None, Vec::new());
        let ack = ServerFrame::Ack {
            client_id: Some("c1".into()),
            message_id: MessageId(9),
        };
        assert_eq!(apply(&mut view, ack, &reader(true)), Applied::Changed);
        let error = ServerFrame::Error {
            code: natter_shared::ErrorKind::RateLimited,
            message: "slow down".into(),
            client_id: Some("c2".into()),
            retry_after_ms: None,
        };
        apply(&mut view, error, &reader(true));
        let entries = view.timeline.entries();
        assert_eq!(entries[0].id, Some(MessageId(9)));
        assert_eq!(entries[1].status, Status::Failed("slow down".into()));
    }

    #[wasm_bindgen_test]
    fn edits_reactions_and_deletions_change_the_list() {
        let edited = Message {
            body: "changed".into(),
            ..message(1, "bob")
        };
        let (view, entry) = run(
            vec![
                live(message(1, "bob")),
                live(message(2, "bob")),
                ServerFrame::Edited { message: edited },
                ServerFrame::Reaction {
                    room_id: ROOM,
                    message_id: MessageId(1),
                    emoji: "👍".into(),
                    user: "cy".into(),
                    added: true,
                },
                ServerFrame::Deleted {
                    room_id: ROOM,
                    message_id: MessageId(2),
                },
            ],
            false,
        );
        let entries = view.timeline.entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].body, "changed");
        assert_eq!(entries[0].reactions.len(), 1);
        assert_eq!(
            entry.unread, 2,
            "the server recounts deletions; the page does not"
        );
    }

    #[wasm_bindgen_test]
    fn a_read_marker_recounts_or_clears() {
        let (view, mut entry) = run(
            (1..=4)
                .map(|id| {
                    live(if id == 4 {
                        mentioning(id, "bob")
                    } else {
                        message(id, "bob")
                    })
                })
                .collect(),
            false,
        );
        assert_eq!((entry.unread, entry.mentions), (4, 1));
        read(&mut entry, MessageId(2), Some(&view), "ann", UserId(1));
        assert_eq!((entry.unread, entry.mentions), (2, 1));
        read(&mut entry, MessageId(1), Some(&view), "ann", UserId(1));
        assert_eq!(
            entry.last_read_id,
            Some(MessageId(2)),
            "markers only move forward"
        );
        read(&mut entry, MessageId(4), None, "ann", UserId(1));
        assert_eq!((entry.unread, entry.mentions), (0, 0));
    }

    #[wasm_bindgen_test]
    fn a_marker_before_the_loaded_page_keeps_the_servers_count() {
        let mut view = RoomView::default();
        view.timeline
            .merge_page(vec![message(10, "bob"), message(11, "bob")], 2, false);
        let mut entry = Room {
            last_message_id: Some(MessageId(11)),
            unread: 30,
            ..room()
        };
        read(&mut entry, MessageId(5), Some(&view), "ann", UserId(1));
        assert_eq!(entry.unread, 30);
        assert_eq!(entry.last_read_id, Some(MessageId(5)));
    }
}
