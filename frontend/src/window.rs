//! Which of a room's loaded messages the list draws: a run of consecutive rows, at most
//! [`MAX_ROWS`], that ends either at the newest loaded entry (the reader follows the room) or
//! at a given stored message (the reader is back in the history). Pure logic over the
//! timeline's entries, so that its rules are unit-tested.
//!
//! Scrolling up draws more rows above and, past the cap, drops rows below; scrolling back
//! down slides the run the other way. However long the history read, the page holds at most
//! `MAX_ROWS` message rows, and a change redraws only what enters or leaves the run.

use crate::timeline::Entry;
use natter_shared::MessageId;
use std::ops::Range;

/// How many of the newest loaded messages are drawn when a room opens.
pub const FIRST_ROWS: usize = 100;
/// How many rows a step up or down adds.
pub const STEP: usize = 50;
/// The most rows drawn at once: several screens above and below what the reader sees, and
/// few enough that a change never costs the browser a long frame.
pub const MAX_ROWS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The newest stored message drawn, or `None` when the run ends at the newest entry.
    pub bottom: Option<MessageId>,
    /// How many rows the run holds (fewer when fewer are loaded).
    pub rows: usize,
}

impl Default for Window {
    fn default() -> Self {
        Self::newest()
    }
}

impl Window {
    /// The newest [`FIRST_ROWS`], as a room opens.
    pub const fn newest() -> Self {
        Self {
            bottom: None,
            rows: FIRST_ROWS,
        }
    }

    /// One past the last entry drawn.
    fn end(&self, entries: &[Entry]) -> usize {
        match self.bottom {
            None => entries.len(),
            // The entry itself, or (when it was deleted) the one stored before it.
            Some(bottom) => entries
                .iter()
                .rposition(|e| e.id.is_some_and(|id| id <= bottom))
                .map_or(0, |at| at + 1),
        }
    }

    /// The entries drawn. When more than [`MAX_ROWS`] are due (older rows came in above a
    /// run that had grown up), the top ones are: the reader is up there.
    pub fn range(&self, entries: &[Entry]) -> Range<usize> {
        let end = self.end(entries);
        let start = end.saturating_sub(self.rows);
        start..end.min(start + MAX_ROWS)
    }

    /// Makes the run's bottom and length say what [`range`](Self::range) draws, after it
    /// dropped rows below; so that a message arriving later does not move the run. Returns
    /// whether anything changed.
    pub fn fit(&mut self, entries: &[Entry]) -> bool {
        let drawn = self.range(entries);
        if drawn.end >= self.end(entries) {
            return false;
        }
        self.end_at(entries, drawn.end);
        self.rows = drawn.len();
        true
    }

    /// Loaded entries above the run.
    pub fn hidden_above(&self, entries: &[Entry]) -> usize {
        self.range(entries).start
    }

    /// Loaded entries below the run.
    pub fn hidden_below(&self, entries: &[Entry]) -> usize {
        entries.len() - self.range(entries).end
    }

    /// Ends the run at `end` (exclusive): at the newest entry when that is the last, else at
    /// the stored message nearest before it.
    fn end_at(&mut self, entries: &[Entry], end: usize) {
        self.bottom = if end >= entries.len() {
            None
        } else {
            entries[..end].iter().rev().find_map(|e| e.id)
        };
    }

    /// Draws [`STEP`] more rows above (rows the server has not sent yet are drawn when they
    /// come); past [`MAX_ROWS`], as many rows are dropped below.
    pub fn up(&mut self, entries: &[Entry]) {
        self.fit(entries);
        self.rows += STEP;
        self.fit(entries);
    }

    /// Draws up to [`STEP`] more rows below, towards the newest; past [`MAX_ROWS`], as many
    /// rows are dropped above. Returns whether anything changed.
    pub fn down(&mut self, entries: &[Entry]) -> bool {
        self.fit(entries);
        let end = self.end(entries);
        if end >= entries.len() {
            return false;
        }
        let to = (end + STEP).min(entries.len());
        self.end_at(entries, to);
        self.rows = (self.rows + (to - end)).min(MAX_ROWS);
        true
    }

    /// A run around the entry at `at`, with about half the rows on either side of it.
    pub fn around(&mut self, entries: &[Entry], at: usize) {
        self.end_at(entries, (at + MAX_ROWS / 2).min(entries.len()));
        self.rows = MAX_ROWS;
    }

    /// Whether the entry at `at` is drawn.
    pub fn shows(&self, entries: &[Entry], at: usize) -> bool {
        self.range(entries).contains(&at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Timeline, fixtures::message};
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A room with `n` stored messages, ids 1 to `n`, and one own message waiting.
    fn timeline(n: i64) -> Timeline {
        let mut t = Timeline::default();
        t.merge_page(
            (1..=n).map(|id| message(1, id, "bob", None)).collect(),
            n as usize,
            false,
        );
        t.add_pending("ann", "hi", "c1", None, Vec::new());
        t
    }

    #[wasm_bindgen_test]
    fn a_room_opens_on_its_newest_rows() {
        let t = timeline(500);
        let w = Window::newest();
        assert_eq!(w.range(t.entries()), 401..501);
        assert_eq!(w.hidden_above(t.entries()), 401);
        assert_eq!(w.hidden_below(t.entries()), 0);
        let short = timeline(10);
        assert_eq!(w.range(short.entries()), 0..11, "fewer loaded: all drawn");
    }

    #[wasm_bindgen_test]
    fn going_up_grows_the_run_then_drops_rows_below() {
        let t = timeline(500);
        let e = t.entries();
        let mut w = Window::newest();
        w.up(e);
        assert_eq!(w.range(e), 351..501);
        w.up(e);
        assert_eq!(w.range(e), 301..501, "up to the cap nothing is dropped");
        w.up(e);
        assert_eq!(w.range(e), 251..451, "past it, the newest rows go");
        assert_eq!(w.bottom, Some(MessageId(451)));
        assert_eq!(w.rows, MAX_ROWS);
        for _ in 0..10 {
            w.up(e);
        }
        assert_eq!(w.range(e), 0..200, "the top of what is loaded");
        assert_eq!(w.hidden_below(e), 301);
    }

    #[wasm_bindgen_test]
    fn a_page_read_from_the_server_pushes_rows_out_below() {
        let mut t = timeline(300);
        let mut w = Window::newest();
        for _ in 0..5 {
            w.up(t.entries());
        }
        assert_eq!(
            w.range(t.entries()),
            0..200,
            "up to the start of what is loaded"
        );
        // Asked for while at the top: the page's rows are drawn when it comes.
        w.up(t.entries());
        assert_eq!(w.range(t.entries()), 0..200);
        t.merge_page(
            (-24..=0).map(|id| message(1, id, "bob", None)).collect(),
            25,
            true,
        );
        let e = t.entries();
        assert_eq!(w.range(e), 0..200, "the page on top, as many dropped below");
        assert_eq!(e[199].id, Some(MessageId(175)));
        assert!(w.fit(e));
        assert_eq!(w.bottom, Some(MessageId(175)));
        assert!(!w.fit(e));
        t.insert_live(message(1, 301, "bob", None));
        assert_eq!(
            w.range(t.entries()),
            0..200,
            "a new message does not move the run"
        );
    }

    #[wasm_bindgen_test]
    fn going_down_slides_back_to_the_newest() {
        let t = timeline(500);
        let e = t.entries();
        let mut w = Window::newest();
        for _ in 0..7 {
            w.up(e);
        }
        assert_eq!(w.range(e), 51..251);
        assert!(w.down(e));
        assert_eq!(
            w.range(e),
            101..301,
            "rows dropped above as many as came below"
        );
        for _ in 0..4 {
            assert!(w.down(e));
        }
        assert_eq!(w.range(e), 301..501);
        assert_eq!(w.bottom, None, "the own waiting message is the end again");
        assert!(!w.down(e), "nothing further down");
    }

    #[wasm_bindgen_test]
    fn the_run_stays_on_its_rows_as_the_room_changes() {
        let mut t = timeline(300);
        let mut w = Window::newest();
        for _ in 0..3 {
            w.up(t.entries());
        }
        assert_eq!(w.bottom, Some(MessageId(251)));
        // New messages arrive below, older ones are read in above: the same rows are drawn.
        t.insert_live(message(1, 301, "bob", None));
        t.merge_page(
            (-24..=0).map(|id| message(1, id, "bob", None)).collect(),
            25,
            true,
        );
        let e = t.entries();
        let r = w.range(e);
        assert_eq!(
            (e[r.start].id, e[r.end - 1].id),
            (Some(MessageId(52)), Some(MessageId(251)))
        );
        // The bottom message deleted: the run ends at the one before it.
        t.remove(MessageId(251));
        let e = t.entries();
        assert_eq!(e[w.range(e).end - 1].id, Some(MessageId(250)));
    }

    #[wasm_bindgen_test]
    fn a_run_around_a_message_shows_it() {
        let t = timeline(1000);
        let e = t.entries();
        let mut w = Window::newest();
        assert!(!w.shows(e, 120));
        w.around(e, 120);
        assert!(w.shows(e, 120));
        assert_eq!(w.range(e), 20..220);
        w.around(e, 990);
        assert!(w.shows(e, 990));
        assert_eq!(w.bottom, None);
    }
}
