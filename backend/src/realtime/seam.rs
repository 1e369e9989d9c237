//! Where the messages a session reads from the database meet the live ones of a room it has
//! joined: what to send, what to hold back, and when to read (again). A plain struct, so the
//! rules are tested on their own; the session actor does the reading and the writing.
//!
//! A session reads from the database after a `join` with `since`, and when it falls behind
//! the room's ring. Meanwhile live events are held. A page of messages is sent, skipping
//! what was sent already; a full page means more may follow; the last page ends the read, and
//! the held events newer than what was sent go out after it. When held messages are lost (the
//! ring overran the session again, or the held buffer filled), the read goes on from the last
//! message sent before going live: nothing is skipped and nothing is sent twice.

use super::{EventKind, Live, SharedEvent};
use bytestring::ByteString;
use natter_shared::{MessageId, UserId};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Seam {
    /// Live events held back while messages are read. `None` while live.
    held: Option<Vec<Live>>,
    /// Held messages were lost: read again before going live.
    gap: bool,
    /// While reading: when the last page went out (or the read began).
    progress_at: Option<Instant>,
    /// The highest message id sent: copies at or below it are not sent again.
    last_id: MessageId,
    /// The most events held.
    limit: usize,
    /// Whose session this is: their own typing is not echoed.
    me: UserId,
}

/// What to do after a page.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Read the messages after this id.
    Read(MessageId),
    /// The read is over; the session is live.
    Live,
}

impl Seam {
    /// A room joined without `since`: live at once.
    pub fn live(me: UserId, limit: usize) -> Self {
        Self {
            held: None,
            gap: false,
            progress_at: None,
            last_id: MessageId(0),
            limit,
            me,
        }
    }

    /// A room joined with `since`: read what came after it first.
    pub fn replaying(me: UserId, since: MessageId, limit: usize, now: Instant) -> Self {
        Self {
            held: Some(Vec::new()),
            progress_at: Some(now),
            last_id: since,
            ..Self::live(me, limit)
        }
    }

    pub fn is_live(&self) -> bool {
        self.held.is_none()
    }

    /// A live event of the room: the frame to send now, if any (it may be held, be a copy of
    /// a message already sent, or the session's own typing).
    pub fn live_event(&mut self, event: Live) -> Option<ByteString> {
        match &mut self.held {
            Some(held) if held.len() >= self.limit => {
                self.lose_messages();
                if let Some(held) = self.held.as_mut().filter(|h| h.len() < self.limit) {
                    held.push(event);
                }
                None
            }
            Some(held) => {
                held.push(event);
                None
            }
            None => self.passes(event.kind).then_some(event.frame),
        }
    }

    /// The session fell behind the room's ring. Returns where to start reading, if a read
    /// must start now; already reading, the read goes on past what was lost.
    pub fn fell_behind(&mut self, now: Instant) -> Option<MessageId> {
        if self.held.is_some() {
            self.lose_messages();
            return None;
        }
        self.held = Some(Vec::new());
        self.progress_at = Some(now);
        Some(self.last_id)
    }

    /// A page read from the database (message frames in id order; `full` when the read was
    /// cut at its limit): the frames to send, and what next. Going live, the frames include
    /// the held events newer than what was sent.
    pub fn page(
        &mut self,
        events: &[SharedEvent],
        full: bool,
        now: Instant,
    ) -> (Vec<ByteString>, Next) {
        self.progress_at = Some(now);
        let mut out: Vec<ByteString> = Vec::with_capacity(events.len());
        for event in events {
            if self.passes(event.kind) {
                out.push(event.frame().clone());
            }
        }
        if full || std::mem::take(&mut self.gap) {
            return (out, Next::Read(self.last_id));
        }
        self.progress_at = None;
        for event in self.held.take().unwrap_or_default() {
            if self.passes(event.kind) {
                out.push(event.frame);
            }
        }
        (out, Next::Live)
    }

    /// Reading, and no page for longer than `timeout`: the session cannot keep up. `now` is
    /// called only while reading, not for every live event (reading the clock was 5% of
    /// S1's profile, docs/BENCHMARKS.md).
    pub fn stuck(&self, timeout: Duration, now: impl FnOnce() -> Instant) -> bool {
        self.progress_at
            .is_some_and(|at| now().saturating_duration_since(at) > timeout)
    }

    /// Whether an event of `kind` goes out: not a copy of a message sent already, nor own
    /// typing.
    fn passes(&mut self, kind: EventKind) -> bool {
        match kind {
            EventKind::Message(id) if id <= self.last_id => return false,
            EventKind::Message(id) => self.last_id = id,
            EventKind::Typing(user) if user == self.me => return false,
            _ => {}
        }
        true
    }

    /// Held messages are lost: the database has them, read again before going live. The
    /// other held events (presence, typing, edits) are kept.
    fn lose_messages(&mut self) {
        self.gap = true;
        if let Some(held) = &mut self.held {
            held.retain(|e| !matches!(e.kind, EventKind::Message(_)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::Event;
    use std::sync::Arc;

    const ME: UserId = UserId(1);

    fn message(id: i64) -> SharedEvent {
        Arc::new(Event::new(
            EventKind::Message(MessageId(id)),
            format!("m{id}"),
        ))
    }

    fn other(kind: EventKind, name: &str) -> SharedEvent {
        Arc::new(Event::new(kind, name.to_owned()))
    }

    fn texts(frames: &[ByteString]) -> Vec<&str> {
        frames.iter().map(|f| &**f).collect()
    }

    #[test]
    fn live_messages_go_out_once_and_own_typing_not_at_all() {
        let mut seam = Seam::live(ME, 8);
        assert_eq!(
            seam.live_event(Event::live(&message(1))).as_deref(),
            Some("m1")
        );
        assert_eq!(seam.live_event(Event::live(&message(1))), None, "a copy");
        assert_eq!(
            seam.live_event(Event::live(&other(EventKind::Typing(ME), "me typing"))),
            None
        );
        let theirs = other(EventKind::Typing(UserId(2)), "bob typing");
        assert_eq!(
            seam.live_event(Event::live(&theirs)).as_deref(),
            Some("bob typing")
        );
    }

    #[test]
    fn a_replay_sends_the_pages_then_what_was_held_without_duplicates() {
        let now = Instant::now();
        let mut seam = Seam::replaying(ME, MessageId(10), 8, now);
        // Live while reading: held, nothing sent.
        for event in [message(12), other(EventKind::Presence, "p"), message(13)] {
            assert_eq!(seam.live_event(Event::live(&event)), None);
        }
        let (out, next) = seam.page(&[message(11), message(12)], true, now);
        assert_eq!(texts(&out), ["m11", "m12"]);
        assert_eq!(next, Next::Read(MessageId(12)));
        let (out, next) = seam.page(&[message(13)], false, now);
        assert_eq!(
            texts(&out),
            ["m13", "p"],
            "held: 12 and 13 were sent, presence was not"
        );
        assert_eq!(next, Next::Live);
        assert!(seam.is_live());
        assert_eq!(
            seam.live_event(Event::live(&message(13))),
            None,
            "nothing twice"
        );
        assert_eq!(
            seam.live_event(Event::live(&message(14))).as_deref(),
            Some("m14")
        );
    }

    #[test]
    fn held_messages_lost_to_a_full_buffer_are_read_again_before_going_live() {
        let now = Instant::now();
        let mut seam = Seam::replaying(ME, MessageId(0), 2, now);
        seam.live_event(Event::live(&message(5)));
        seam.live_event(Event::live(&other(EventKind::Update, "edit")));
        // The buffer is full: its messages go, the edit stays, and so does the gap.
        seam.live_event(Event::live(&message(6)));
        let (out, next) = seam.page(&[message(1), message(2)], false, now);
        assert_eq!(texts(&out), ["m1", "m2"]);
        assert_eq!(
            next,
            Next::Read(MessageId(2)),
            "not live: 5 and 6 are missing"
        );
        let (out, next) = seam.page(&[message(5), message(6)], false, now);
        assert_eq!(texts(&out), ["m5", "m6", "edit"]);
        assert_eq!(next, Next::Live);
    }

    #[test]
    fn falling_behind_starts_a_read_from_the_last_message_sent_once() {
        let now = Instant::now();
        let mut seam = Seam::live(ME, 8);
        seam.live_event(Event::live(&message(7)));
        assert_eq!(seam.fell_behind(now), Some(MessageId(7)));
        assert_eq!(seam.fell_behind(now), None, "reading already: it goes on");
        let (_, next) = seam.page(&[message(8)], false, now);
        assert_eq!(
            next,
            Next::Read(MessageId(8)),
            "the ring overran the read: once more"
        );
        let (_, next) = seam.page(&[], false, now);
        assert_eq!(next, Next::Live);
    }

    #[test]
    fn a_read_without_progress_for_the_timeout_is_stuck() {
        let start = Instant::now();
        let mut seam = Seam::live(ME, 8);
        let timeout = Duration::from_secs(15);
        assert!(
            !seam.stuck(timeout, || start + Duration::from_secs(60)),
            "live is never stuck"
        );
        seam.fell_behind(start);
        assert!(!seam.stuck(timeout, || start + Duration::from_secs(10)));
        assert!(seam.stuck(timeout, || start + Duration::from_secs(16)));
        seam.page(&[message(1)], true, start + Duration::from_secs(16));
        assert!(
            !seam.stuck(timeout, || start + Duration::from_secs(20)),
            "a page is progress"
        );
    }
}
