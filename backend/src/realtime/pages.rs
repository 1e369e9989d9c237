//! Pages of a room's history that sessions read from the database to catch up, kept a few
//! seconds, serialized once: the sessions that fell behind one burst together read each page
//! from the database once between them, not once each.
//!
//! Only full pages are kept. A full page holds every message of its room with an id in
//! `(after, last]`: ids rise in commit order, so once `last` is committed nothing below it is
//! still to come, and the page stays complete. (A page that was not full ended at whatever
//! was committed when it was read, and is read again.) Edits and deletions change what a
//! page shows, so they drop the room's pages. The memory is bounded by [`MAX_MESSAGES`]
//! over all rooms, and a page lives at most [`TTL`].

use super::{Event, EventKind, SharedEvent};
use natter_shared::{MessageId, RoomId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The most messages kept over every room.
pub const MAX_MESSAGES: usize = 16_384;
/// How long a page is kept.
pub const TTL: Duration = Duration::from_secs(5);

/// Messages of one room with ids in `(after, last]`, every one of them, as frames.
#[derive(Debug)]
pub struct Page {
    pub after: MessageId,
    pub last: MessageId,
    pub events: Vec<SharedEvent>,
}

impl Page {
    /// A page of `events` (message frames in id order) read after `after`.
    pub fn new(after: MessageId, events: Vec<SharedEvent>) -> Self {
        let last = events
            .iter()
            .rev()
            .find_map(|e| match e.kind {
                EventKind::Message(id) => Some(id),
                _ => None,
            })
            .unwrap_or(after);
        Self {
            after,
            last,
            events,
        }
    }
}

#[derive(Default)]
pub struct Pages {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Per room, pages by the id they start after.
    rooms: HashMap<RoomId, BTreeMap<MessageId, (Arc<Page>, Instant)>>,
    /// Every page kept, oldest first, to drop the oldest first.
    order: VecDeque<(RoomId, MessageId)>,
    messages: usize,
    /// Raised by every [`Pages::forget`]: a page read before it may show an edited or
    /// deleted message as it was, and is not kept.
    epoch: u64,
}

impl Inner {
    fn remove(&mut self, room: RoomId, after: MessageId) {
        let Some(pages) = self.rooms.get_mut(&room) else {
            return;
        };
        if let Some((page, _)) = pages.remove(&after) {
            self.messages -= page.events.len();
        }
        if pages.is_empty() {
            self.rooms.remove(&room);
        }
    }

    /// Drops the oldest pages until `room_for` more messages fit, and every page past its TTL.
    fn make_room(&mut self, room_for: usize, now: Instant) {
        while let Some(&(room, after)) = self.order.front() {
            let expired = self
                .rooms
                .get(&room)
                .and_then(|p| p.get(&after))
                .is_none_or(|(_, at)| now.duration_since(*at) >= TTL);
            if !expired && self.messages + room_for <= MAX_MESSAGES {
                break;
            }
            self.order.pop_front();
            self.remove(room, after);
        }
    }
}

impl Pages {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A kept page of `room` that goes on from message `after`: it starts at or before it
    /// and ends past it.
    pub fn covering(&self, room: RoomId, after: MessageId) -> Option<Arc<Page>> {
        let now = Instant::now();
        let inner = self.lock();
        let (_, (page, at)) = inner.rooms.get(&room)?.range(..=after).next_back()?;
        (page.last > after && now.duration_since(*at) < TTL).then(|| page.clone())
    }

    /// Where edits stand now: take it before reading a page, give it to [`Pages::keep`].
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps a full page read since `epoch`, unless a message was edited or deleted since.
    pub fn keep(&self, room: RoomId, page: Arc<Page>, epoch: u64) {
        let size = page.events.len();
        if size == 0 || size > MAX_MESSAGES {
            return;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        inner.make_room(size, now);
        let after = page.after;
        if let Some((old, _)) = inner
            .rooms
            .entry(room)
            .or_default()
            .insert(after, (page, now))
        {
            inner.messages -= old.events.len();
        } else {
            inner.order.push_back((room, after));
        }
        inner.messages += size;
    }

    /// Forgets every page of `room`: a message in it was edited or deleted, or the room was.
    pub fn forget(&self, room: RoomId) {
        let mut inner = self.lock();
        inner.epoch += 1;
        if let Some(pages) = inner.rooms.remove(&room) {
            inner.messages -= pages.values().map(|(p, _)| p.events.len()).sum::<usize>();
            inner.order.retain(|(r, _)| *r != room);
        }
    }

    /// How many messages are kept, over every room.
    pub fn messages(&self) -> usize {
        self.lock().messages
    }
}

/// A message frame for a page.
pub fn message_event(id: MessageId, frame: String) -> SharedEvent {
    Arc::new(Event::new(EventKind::Message(id), frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(after: i64, ids: impl IntoIterator<Item = i64>) -> Arc<Page> {
        let events = ids
            .into_iter()
            .map(|id| message_event(MessageId(id), format!("{id}")))
            .collect();
        Arc::new(Page::new(MessageId(after), events))
    }

    #[test]
    fn a_page_covers_the_ids_after_its_start_up_to_its_last() {
        let pages = Pages::default();
        let room = RoomId(1);
        pages.keep(room, page(10, 11..=20), 0);
        assert!(pages.covering(room, MessageId(9)).is_none(), "starts later");
        assert_eq!(
            pages.covering(room, MessageId(10)).map(|p| p.last),
            Some(MessageId(20))
        );
        assert_eq!(
            pages.covering(room, MessageId(15)).map(|p| p.after),
            Some(MessageId(10))
        );
        assert!(
            pages.covering(room, MessageId(20)).is_none(),
            "nothing past its last"
        );
        assert!(
            pages.covering(RoomId(2), MessageId(15)).is_none(),
            "another room"
        );
        pages.keep(room, page(20, 21..=30), 0);
        assert_eq!(
            pages.covering(room, MessageId(25)).map(|p| p.after),
            Some(MessageId(20))
        );
    }

    #[test]
    fn an_edit_forgets_the_room_and_pages_read_before_it_and_memory_stays_bounded() {
        let pages = Pages::default();
        pages.keep(RoomId(1), page(0, 1..=10), 0);
        let read_at = pages.epoch();
        pages.keep(RoomId(2), page(0, 1..=10), read_at);
        pages.forget(RoomId(1));
        // A page read before the edit is not kept after it.
        pages.keep(RoomId(4), page(0, 1..=10), read_at);
        assert!(pages.covering(RoomId(4), MessageId(5)).is_none());
        let now = pages.epoch();
        assert!(pages.covering(RoomId(1), MessageId(5)).is_none());
        assert!(pages.covering(RoomId(2), MessageId(5)).is_some());
        assert_eq!(pages.messages(), 10);
        // Past the bound, the oldest pages go first.
        let big = (MAX_MESSAGES / 2) as i64;
        pages.keep(RoomId(3), page(0, 1..=big), now);
        pages.keep(RoomId(3), page(big, big + 1..=2 * big), now);
        assert!(pages.messages() <= MAX_MESSAGES);
        assert!(
            pages.covering(RoomId(2), MessageId(5)).is_none(),
            "the oldest went"
        );
        assert!(pages.covering(RoomId(3), MessageId(big + 1)).is_some());
    }

    #[test]
    fn an_empty_page_is_not_kept() {
        let pages = Pages::default();
        pages.keep(RoomId(1), page(5, []), 0);
        assert_eq!(pages.messages(), 0);
        assert!(pages.covering(RoomId(1), MessageId(5)).is_none());
    }
}
