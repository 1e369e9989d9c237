//! The newest messages of the rooms people read, kept in memory so that the most-read page
//! of a chat server (a room's newest 25) is answered without the database.
//!
//! A room gets a window when someone reads its newest page from the database: the newest
//! [`KEPT`] messages, exactly as a history page shows them. From then on the window is fed
//! where live delivery is: every committed message, this node's and the other nodes', comes
//! through [`Recent::message`] in id order, before any socket sees it, so a page from memory
//! is never behind what a socket has shown. Anything that changes how messages already shown
//! look (an edit, a deletion, a reaction, a deleted original of a reply) comes through
//! [`Recent::forget`], which drops the room's window; the next read fills it again.
//!
//! A window holds every message of its room with an id above its `floor` (`0`: the whole
//! room). A page of the newest `limit` messages below `before` is answered from it when it
//! holds at least `limit` of them, or the whole room.
//!
//! Filling races with commits: a reader takes a [`Ticket`] before it reads the database, and
//! what it read is kept only if nothing was published to that room or forgotten of it after
//! the ticket. While this node cannot hear the others (the link to them is down), nothing is
//! kept or answered from memory: an edit made elsewhere would go unseen.

use actix_web::web::Bytes;
use natter_shared::{Message, MessageId, RoomId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// The most messages kept per room: a full page (`limit` at most 100) from memory.
pub const KEPT: usize = 100;
/// Roughly the most bytes kept over every room (message bodies and a fixed share for the
/// rest of each message); past it the windows read longest ago go.
pub const MAX_BYTES: usize = 64 << 20;
/// The most rooms with a slot (a window, or a read under way); past it the slots without a
/// window are dropped (their readers keep nothing).
const MAX_SLOTS: usize = 1 << 16;

/// What a kept message is counted as, beside its body.
const FIXED_BYTES: usize = 256;

fn size_of(message: &Message) -> usize {
    FIXED_BYTES + message.body.len() + message.author.len()
}

/// When a reader started reading the database: see [`Recent::ticket`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Debug)]
struct Window {
    /// Every message of the room with a larger id is in `messages` (`0`: every message).
    floor: i64,
    /// In id order.
    messages: VecDeque<Arc<Message>>,
    /// The newest page as JSON, for the `limit` it was asked with.
    json: Option<(usize, Bytes)>,
    bytes: usize,
    /// When it was last read (the clock), to drop the least read first.
    read_at: u64,
}

impl Window {
    /// The newest `limit` messages below `before`, oldest first, if this window holds them.
    fn page(&self, before: Option<MessageId>, limit: usize) -> Option<Vec<Arc<Message>>> {
        let end = match before {
            None => self.messages.len(),
            Some(before) => self.messages.partition_point(|m| m.id < before),
        };
        if end < limit && self.floor != 0 {
            // Older messages than the window holds may belong on the page.
            return None;
        }
        let start = end.saturating_sub(limit);
        Some(self.messages.range(start..end).cloned().collect())
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// The clock when something was last published to or forgotten of the room (or when
    /// the slot was made).
    touched_at: u64,
    window: Option<Window>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Rises at every change.
    clock: u64,
    slots: HashMap<RoomId, Slot>,
    bytes: usize,
    /// The link to the other nodes is down: nothing kept, nothing answered.
    paused: bool,
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn drop_window(&mut self, room: RoomId) {
        if let Some(window) = self.slots.get_mut(&room).and_then(|s| s.window.take()) {
            self.bytes -= window.bytes;
        }
    }

    /// Drops the windows read longest ago until `more` bytes fit.
    fn make_room(&mut self, more: usize) {
        if self.bytes + more <= MAX_BYTES {
            return;
        }
        let mut by_age: Vec<(u64, RoomId)> = self
            .slots
            .iter()
            .filter_map(|(room, s)| s.window.as_ref().map(|w| (w.read_at, *room)))
            .collect();
        by_age.sort_unstable();
        for (_, room) in by_age {
            if self.bytes + more <= MAX_BYTES {
                break;
            }
            self.drop_window(room);
        }
    }
}

/// The windows of every room read lately (cheap to share: the hub holds it).
#[derive(Debug, Default)]
pub struct Recent {
    inner: Mutex<Inner>,
}

impl Recent {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The newest `limit` messages of `room` below `before`, oldest first, if kept.
    pub fn page(
        &self,
        room: RoomId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Option<Vec<Arc<Message>>> {
        let mut inner = self.lock();
        if inner.paused {
            return None;
        }
        let now = inner.clock;
        let window = inner.slots.get_mut(&room)?.window.as_mut()?;
        let page = window.page(before, limit)?;
        window.read_at = now;
        Some(page)
    }

    /// The newest `limit` messages of `room` as the JSON of a history page, if kept: made
    /// once, then shared by every reader until the room changes.
    pub fn newest_json(&self, room: RoomId, limit: usize) -> Option<Bytes> {
        let touched_at = {
            let mut inner = self.lock();
            if inner.paused {
                return None;
            }
            let now = inner.clock;
            let slot = inner.slots.get_mut(&room)?;
            let window = slot.window.as_mut()?;
            window.read_at = now;
            if let Some((kept, json)) = &window.json
                && *kept == limit
            {
                return Some(json.clone());
            }
            slot.touched_at
        };
        let page = self.page(room, None, limit)?;
        let json = page_json(&page)?;
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get_mut(&room)
            && slot.touched_at == touched_at
            && let Some(window) = slot.window.as_mut()
        {
            window.json = Some((limit, json.clone()));
        }
        Some(json)
    }

    /// Taken before reading the newest messages of `room` for [`Recent::keep`].
    pub fn ticket(&self, room: RoomId) -> Ticket {
        let mut inner = self.lock();
        let now = inner.tick();
        if inner.slots.len() >= MAX_SLOTS {
            inner.slots.retain(|_, s| s.window.is_some());
        }
        inner.slots.entry(room).or_insert(Slot {
            touched_at: now,
            window: None,
        });
        Ticket(now)
    }

    /// Keeps `newest`, the newest messages of `room` read after `ticket` (oldest first;
    /// asked for [`KEPT`]), unless the room changed since.
    pub fn keep(&self, ticket: Ticket, room: RoomId, newest: &[Message]) {
        let mut inner = self.lock();
        if inner.paused {
            return;
        }
        let Some(slot) = inner.slots.get(&room) else {
            return;
        };
        if slot.touched_at > ticket.0 {
            return;
        }
        let floor = match (newest.len() < KEPT, newest.first()) {
            (true, _) | (_, None) => 0,
            (false, Some(first)) => first.id.0 - 1,
        };
        let bytes = newest.iter().map(size_of).sum();
        inner.drop_window(room);
        inner.make_room(bytes);
        let now = inner.tick();
        let window = Window {
            floor,
            messages: newest.iter().cloned().map(Arc::new).collect(),
            json: None,
            bytes,
            read_at: now,
        };
        inner.bytes += bytes;
        if let Some(slot) = inner.slots.get_mut(&room) {
            // Raised, so that JSON made of the window before is not kept with this one.
            slot.touched_at = now;
            slot.window = Some(window);
        }
    }

    /// A committed message, in id order.
    pub fn message(&self, message: &Message) {
        let mut inner = self.lock();
        let now = inner.tick();
        let inner = &mut *inner;
        let Some(slot) = inner.slots.get_mut(&message.room_id) else {
            return;
        };
        slot.touched_at = now;
        let Some(window) = slot.window.as_mut() else {
            return;
        };
        if window.messages.back().is_some_and(|m| m.id >= message.id) {
            // Read from the database with the window already.
            return;
        }
        let size = size_of(message);
        window.messages.push_back(Arc::new(message.clone()));
        window.json = None;
        window.bytes += size;
        inner.bytes += size;
        if window.messages.len() > KEPT
            && let Some(oldest) = window.messages.pop_front()
        {
            window.floor = oldest.id.0;
            let size = size_of(&oldest);
            window.bytes -= size;
            inner.bytes -= size;
        }
        if inner.bytes > MAX_BYTES {
            inner.make_room(0);
        }
    }

    /// Something shown in `room` changed (an edit, a deletion, a reaction), or the room is
    /// gone: its window goes, and reads under way keep nothing.
    pub fn forget(&self, room: RoomId) {
        let mut inner = self.lock();
        let now = inner.tick();
        inner.drop_window(room);
        if let Some(slot) = inner.slots.get_mut(&room) {
            slot.touched_at = now;
        }
    }

    /// Forgets every room.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        let paused = inner.paused;
        Self::reset(&mut inner, paused);
    }

    /// Forgets every room; with `paused`, keeps nothing until called again without: for
    /// while changes made on other nodes may go unheard.
    pub fn pause(&self, paused: bool) {
        Self::reset(&mut self.lock(), paused);
    }

    fn reset(inner: &mut Inner, paused: bool) {
        *inner = Inner {
            clock: inner.clock + 1,
            paused,
            ..Inner::default()
        };
    }

    /// How many messages are kept, over every room.
    pub fn messages(&self) -> usize {
        let inner = self.lock();
        inner
            .slots
            .values()
            .filter_map(|s| s.window.as_ref())
            .map(|w| w.messages.len())
            .sum()
    }
}

/// A history page's JSON: an array of the messages.
pub fn page_json(page: &[Arc<Message>]) -> Option<Bytes> {
    let refs: Vec<&Message> = page.iter().map(|m| &**m).collect();
    match serde_json::to_vec(&refs) {
        Ok(json) => Some(json.into()),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize a history page");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use natter_shared::MessageKind;

    fn message(room: i64, id: i64) -> Message {
        Message {
            id: MessageId(id),
            room_id: RoomId(room),
            author: "alice".into(),
            kind: MessageKind::User,
            body: format!("message {id}"),
            created_at: Utc::now(),
            client_id: None,
            edited_at: None,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
            mentions_room: false,
            attachments: Vec::new(),
        }
    }

    fn ids(page: Option<Vec<Arc<Message>>>) -> Option<Vec<i64>> {
        page.map(|p| p.iter().map(|m| m.id.0).collect())
    }

    fn filled(room: i64, range: std::ops::RangeInclusive<i64>) -> Recent {
        let recent = Recent::default();
        let ticket = recent.ticket(RoomId(room));
        let newest: Vec<Message> = range.map(|id| message(room, id)).collect();
        recent.keep(ticket, RoomId(room), &newest);
        recent
    }

    #[test]
    fn a_small_room_is_kept_whole_and_answers_any_page() {
        let recent = filled(1, 1..=10);
        let room = RoomId(1);
        assert_eq!(ids(recent.page(room, None, 3)), Some(vec![8, 9, 10]));
        assert_eq!(ids(recent.page(room, None, 25)), Some((1..=10).collect()));
        assert_eq!(
            ids(recent.page(room, Some(MessageId(3)), 25)),
            Some(vec![1, 2])
        );
        assert_eq!(ids(recent.page(RoomId(2), None, 3)), None, "another room");
    }

    #[test]
    fn a_full_window_answers_only_what_it_holds_and_slides_with_new_messages() {
        let first = 1000;
        let last = first + KEPT as i64 - 1;
        let recent = filled(1, first..=last);
        let room = RoomId(1);
        assert_eq!(
            ids(recent.page(room, None, 25)),
            Some((last - 24..=last).collect())
        );
        assert!(recent.page(room, Some(MessageId(first + 10)), 25).is_none());
        assert_eq!(
            ids(recent.page(room, Some(MessageId(first + 10)), 10)),
            Some((first..first + 10).collect())
        );
        recent.message(&message(1, last + 1));
        recent.message(&message(2, last + 2));
        assert_eq!(recent.messages(), KEPT, "the oldest went");
        assert_eq!(ids(recent.page(room, None, 2)), Some(vec![last, last + 1]));
        assert!(recent.page(room, Some(MessageId(first + 1)), 1).is_none());
    }

    #[test]
    fn a_read_that_raced_a_change_keeps_nothing() {
        let recent = Recent::default();
        let room = RoomId(1);
        let ticket = recent.ticket(room);
        recent.message(&message(1, 5));
        recent.keep(ticket, room, &[message(1, 1)]);
        assert!(recent.page(room, None, 1).is_none(), "published since");
        let ticket = recent.ticket(room);
        recent.forget(room);
        recent.keep(ticket, room, &[message(1, 1)]);
        assert!(recent.page(room, None, 1).is_none(), "edited since");
        let ticket = recent.ticket(room);
        recent.message(&message(2, 6));
        recent.keep(ticket, room, &[message(1, 1), message(1, 5)]);
        assert_eq!(ids(recent.page(room, None, 5)), Some(vec![1, 5]));
        recent.message(&message(1, 5));
        assert_eq!(recent.messages(), 2, "a message read already is not added");
    }

    #[test]
    fn an_edit_drops_the_window_and_the_cached_json_follows_new_messages() {
        let recent = filled(1, 1..=3);
        let room = RoomId(1);
        let json = recent.newest_json(room, 2);
        let expected = page_json(&recent.page(room, None, 2).unwrap_or_default());
        assert_eq!(json, expected);
        recent.message(&message(1, 4));
        let json = recent.newest_json(room, 2).unwrap_or_default();
        let page: Vec<Message> = serde_json::from_slice(&json).unwrap_or_default();
        assert_eq!(page.iter().map(|m| m.id.0).collect::<Vec<_>>(), vec![3, 4]);
        recent.forget(room);
        assert!(recent.newest_json(room, 2).is_none());
        assert_eq!(recent.messages(), 0);
    }

    #[test]
    fn while_paused_nothing_is_kept_or_answered() {
        let recent = filled(1, 1..=3);
        recent.pause(true);
        assert!(recent.page(RoomId(1), None, 1).is_none());
        let ticket = recent.ticket(RoomId(1));
        recent.keep(ticket, RoomId(1), &[message(1, 1)]);
        assert!(recent.page(RoomId(1), None, 1).is_none());
        recent.pause(false);
        let ticket = recent.ticket(RoomId(1));
        recent.keep(ticket, RoomId(1), &[message(1, 1)]);
        assert_eq!(ids(recent.page(RoomId(1), None, 1)), Some(vec![1]));
    }

    #[test]
    fn memory_stays_bounded() {
        let recent = Recent::default();
        let body = "x".repeat(4000);
        let per_room = KEPT * (FIXED_BYTES + body.len() + 5);
        let rooms = MAX_BYTES / per_room + 5;
        for room in 0..rooms as i64 {
            let ticket = recent.ticket(RoomId(room));
            let newest: Vec<Message> = (1..=KEPT as i64)
                .map(|id| Message {
                    body: body.clone(),
                    ..message(room, room * 1000 + id)
                })
                .collect();
            recent.keep(ticket, RoomId(room), &newest);
        }
        assert!(recent.lock().bytes <= MAX_BYTES);
        assert!(recent.page(RoomId(0), None, 1).is_none(), "the oldest went");
        assert!(recent.page(RoomId(rooms as i64 - 1), None, 1).is_some());
    }
}
