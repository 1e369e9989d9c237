//! What room lists count of each room's newest messages, kept in memory: per room, the
//! messages stored since this process started (up to [`KEPT`] of them), enough to answer a
//! member's newest message id, unread count and mention count without the database.
//!
//! The tallies are fed where live delivery is: every committed message, this node's and the
//! other nodes', comes through [`Tallies::message`] in id order, before any socket sees it,
//! so a room list is never behind what a socket has shown. Edits and deletions come through
//! [`Tallies::edited`] and [`Tallies::deleted`] wherever they are broadcast.
//!
//! A room's tally is complete above its `floor`: it holds every message of the room with a
//! larger id. The floor starts at the newest id published when the process started (or when
//! the tallies were last [`Tallies::reset`]) and rises when a room's oldest entries are
//! dropped. A member whose read marker is at or above the floor is answered from memory.
//! Their marker is always 0 or the id of one of the room's messages, so when the room holds
//! nothing above the floor, the room's newest message is the one the marker names.
//! A marker below the floor (unread messages from before the start) is counted in the
//! database, as before.

use crate::db::rooms::ReadCounts as Counts;
use natter_shared::{Message, MessageId, RoomId, UserId};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// The most messages kept per room. Past it the oldest go, and a member who has not read
/// them is counted in the database.
pub const KEPT: usize = 128;
/// The most messages kept over every room: past it the quietest rooms are emptied.
pub const MAX_ENTRIES: usize = 1 << 18;

/// One stored message, as counting needs it.
#[derive(Debug)]
struct Entry {
    id: i64,
    author: Box<str>,
    deleted: bool,
    mentions_room: bool,
    mentions: Box<[UserId]>,
}

impl Entry {
    fn of(message: &Message) -> Self {
        Self {
            id: message.id.0,
            author: message.author.as_str().into(),
            deleted: false,
            mentions_room: message.mentions_room,
            mentions: message.mentions.clone().into_boxed_slice(),
        }
    }
}

#[derive(Debug)]
struct RoomTally {
    /// Every message of the room with a larger id is in `entries`.
    floor: i64,
    /// In id order.
    entries: VecDeque<Entry>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The newest id published.
    seen: i64,
    /// Where every room starts: the floor of a room without a tally.
    floor: i64,
    rooms: HashMap<RoomId, RoomTally>,
    /// Entries over every room.
    entries: usize,
}

impl From<i64> for Inner {
    /// Nothing kept, everything above `published` to come.
    fn from(published: i64) -> Self {
        Self {
            seen: published,
            floor: published,
            ..Self::default()
        }
    }
}

#[derive(Debug, Default)]
pub struct Tallies {
    inner: Mutex<Inner>,
}

impl Tallies {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every room: from here on, messages above `published` (the newest id this
    /// process has delivered, or will deliver next after) are counted in memory. Called when
    /// delivery starts.
    pub fn reset(&self, published: i64) {
        *self.lock() = Inner::from(published);
    }

    /// Forgets every room from the newest message seen on, in one hold of the lock (a
    /// message published in between would otherwise be above the floor yet forgotten): for
    /// when edits or deletions may have been missed (the link to other nodes was down).
    pub fn forget(&self) {
        let mut inner = self.lock();
        *inner = Inner::from(inner.seen);
    }

    /// A committed message, in id order.
    pub fn message(&self, message: &Message) {
        let entry = Entry::of(message);
        let mut inner = self.lock();
        let inner = &mut *inner;
        if entry.id <= inner.seen {
            return;
        }
        inner.seen = entry.id;
        let floor = inner.floor;
        let tally = inner
            .rooms
            .entry(message.room_id)
            .or_insert_with(|| RoomTally {
                floor,
                entries: VecDeque::new(),
            });
        tally.entries.push_back(entry);
        inner.entries += 1;
        if tally.entries.len() > KEPT
            && let Some(oldest) = tally.entries.pop_front()
        {
            tally.floor = oldest.id;
            inner.entries -= 1;
        }
        if inner.entries > MAX_ENTRIES {
            inner.shed();
        }
    }

    /// A message as its author edited it: whom it mentions may have changed.
    pub fn edited(&self, message: &Message) {
        self.with_entry(message.room_id, message.id, |entry| {
            entry.mentions_room = message.mentions_room;
            entry.mentions = message.mentions.clone().into_boxed_slice();
        });
    }

    /// A deleted message: no longer counted.
    pub fn deleted(&self, room: RoomId, id: MessageId) {
        self.with_entry(room, id, |entry| {
            entry.deleted = true;
            entry.mentions_room = false;
            entry.mentions = Box::default();
        });
    }

    fn with_entry(&self, room: RoomId, id: MessageId, change: impl FnOnce(&mut Entry)) {
        let mut inner = self.lock();
        let Some(tally) = inner.rooms.get_mut(&room) else {
            return;
        };
        if let Ok(at) = tally.entries.binary_search_by_key(&id.0, |e| e.id) {
            change(&mut tally.entries[at]);
        }
    }

    /// A deleted room: its messages went with it.
    pub fn room_deleted(&self, room: RoomId) {
        let mut inner = self.lock();
        if let Some(tally) = inner.rooms.remove(&room) {
            inner.entries -= tally.entries.len();
        }
    }

    /// For each `(room, read marker)`, what `user` (named `name`) sees of it, counting at
    /// most `cap` unread messages: `None` for a marker below the room's floor, which only
    /// the database can count.
    pub fn counts(
        &self,
        user: UserId,
        name: &str,
        cap: i64,
        rooms: &[(RoomId, i64)],
    ) -> Vec<Option<Counts>> {
        let inner = self.lock();
        rooms
            .iter()
            .map(|&(room, marker)| {
                let Some(tally) = inner.rooms.get(&room) else {
                    return (marker >= inner.floor).then_some(Counts {
                        last: marker,
                        unread: 0,
                        mentions: 0,
                    });
                };
                if marker < tally.floor {
                    return None;
                }
                let newest = tally.entries.back().map_or(0, |e| e.id);
                let mut counts = Counts {
                    last: newest.max(marker),
                    unread: 0,
                    mentions: 0,
                };
                let from = tally.entries.partition_point(|e| e.id <= marker);
                for entry in tally.entries.range(from..) {
                    if entry.deleted || *entry.author == *name {
                        continue;
                    }
                    if counts.unread < cap {
                        counts.unread += 1;
                    }
                    if entry.mentions_room || entry.mentions.contains(&user) {
                        counts.mentions += 1;
                    }
                }
                Some(counts)
            })
            .collect()
    }
}

impl Inner {
    /// Empties the rooms whose newest message is oldest until a quarter of the entries is
    /// free: their members' markers fall below the floor and are counted in the database.
    fn shed(&mut self) {
        let mut newest: Vec<(i64, RoomId)> = self
            .rooms
            .iter()
            .filter_map(|(id, t)| t.entries.back().map(|e| (e.id, *id)))
            .collect();
        newest.sort_unstable();
        let target = MAX_ENTRIES / 4 * 3;
        for (last, room) in newest {
            if self.entries <= target {
                break;
            }
            if let Some(tally) = self.rooms.get_mut(&room) {
                self.entries -= tally.entries.len();
                tally.entries = VecDeque::new();
                tally.floor = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use natter_shared::MessageKind;

    fn message(id: i64, room: i64, author: &str, body: &str, mentions: &[i64]) -> Message {
        Message {
            id: MessageId(id),
            room_id: RoomId(room),
            author: author.into(),
            kind: MessageKind::User,
            body: body.into(),
            created_at: Utc::now(),
            client_id: None,
            edited_at: None,
            reply_to: None,
            reactions: Vec::new(),
            mentions: mentions.iter().copied().map(UserId).collect(),
            mentions_room: body.contains("@room"),
            attachments: Vec::new(),
        }
    }

    const ANN: UserId = UserId(1);

    fn counts(t: &Tallies, room: i64, marker: i64) -> Option<Counts> {
        t.counts(ANN, "ann", 100, &[(RoomId(room), marker)])[0]
    }

    fn c(last: i64, unread: i64, mentions: i64) -> Option<Counts> {
        Some(Counts {
            last,
            unread,
            mentions,
        })
    }

    #[test]
    fn counts_others_messages_after_the_marker_and_mentions_of_the_reader() {
        let t = Tallies::default();
        t.reset(10);
        t.message(&message(11, 1, "bob", "hi", &[]));
        t.message(&message(12, 1, "ann", "hello @room", &[]));
        t.message(&message(13, 1, "bob", "@ann look", &[1]));
        t.message(&message(14, 2, "bob", "@room", &[]));
        t.message(&message(15, 1, "cy", "@room and @ann", &[1]));
        assert_eq!(counts(&t, 1, 10), c(15, 3, 2));
        assert_eq!(counts(&t, 1, 13), c(15, 1, 1));
        assert_eq!(counts(&t, 1, 15), c(15, 0, 0));
        assert_eq!(counts(&t, 2, 10), c(14, 1, 1));
    }

    #[test]
    fn a_quiet_room_is_at_the_marker_and_a_marker_before_the_start_needs_the_database() {
        let t = Tallies::default();
        t.reset(10);
        assert_eq!(counts(&t, 3, 10), c(10, 0, 0));
        assert_eq!(counts(&t, 3, 0), None);
        t.message(&message(11, 3, "bob", "hi", &[]));
        assert_eq!(counts(&t, 3, 9), None);
        assert_eq!(counts(&t, 3, 10), c(11, 1, 0));
        // A marker that went ahead of what this node has delivered yet.
        assert_eq!(counts(&t, 4, 20), c(20, 0, 0));
    }

    #[test]
    fn edits_and_deletions_change_the_counts() {
        let t = Tallies::default();
        t.reset(0);
        t.message(&message(1, 1, "bob", "@ann", &[1]));
        t.message(&message(2, 1, "bob", "plain", &[]));
        t.edited(&message(2, 1, "bob", "@room now", &[]));
        assert_eq!(counts(&t, 1, 0), c(2, 2, 2));
        t.deleted(RoomId(1), MessageId(1));
        assert_eq!(counts(&t, 1, 0), c(2, 1, 1));
        t.room_deleted(RoomId(1));
        assert_eq!(counts(&t, 1, 2), c(2, 0, 0));
    }

    #[test]
    fn unread_is_capped_and_the_oldest_beyond_kept_raise_the_floor() {
        let t = Tallies::default();
        t.reset(0);
        for id in 1..=(KEPT as i64 + 5) {
            t.message(&message(id, 1, "bob", "x", &[]));
        }
        let last = KEPT as i64 + 5;
        assert_eq!(counts(&t, 1, 4), None);
        assert_eq!(counts(&t, 1, 5), c(last, 100, 0));
        assert_eq!(counts(&t, 1, last - 3), c(last, 3, 0));
        // A message seen again (a notice and a poll that both brought it) counts once.
        t.message(&message(last, 1, "bob", "x", &[]));
        assert_eq!(counts(&t, 1, last - 3), c(last, 3, 0));
    }

    #[test]
    fn forgetting_starts_again_from_the_newest_message_seen() {
        let t = Tallies::default();
        t.reset(0);
        t.message(&message(1, 1, "bob", "x", &[]));
        t.forget();
        assert_eq!(counts(&t, 1, 0), None);
        assert_eq!(counts(&t, 1, 1), c(1, 0, 0));
    }

    #[test]
    fn shedding_empties_the_quietest_rooms_first() {
        let mut inner = Inner::default();
        for room in 0..3_i64 {
            let entries: VecDeque<Entry> = (0..2)
                .map(|k| Entry::of(&message(room * 10 + k, room, "bob", "x", &[])))
                .collect();
            inner.entries += entries.len();
            inner
                .rooms
                .insert(RoomId(room), RoomTally { floor: -1, entries });
        }
        // Two entries too many: the room with the oldest newest message is emptied, alone.
        inner.entries = MAX_ENTRIES / 4 * 3 + 2;
        inner.shed();
        assert!(inner.rooms[&RoomId(0)].entries.is_empty());
        assert_eq!(inner.rooms[&RoomId(0)].floor, 1);
        assert_eq!(inner.rooms[&RoomId(1)].entries.len(), 2);
        assert_eq!(inner.rooms[&RoomId(2)].entries.len(), 2);
    }
}
