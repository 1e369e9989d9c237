//! A room's broadcast channel: every receiver sees every event sent after it subscribed, in
//! order, or learns how many it missed (`Lagged`) when it fell more than `capacity` behind.
//!
//! Unlike `tokio::sync::broadcast`, nothing is allocated up front: the buffer holds only the
//! events some receiver has not read yet, grows as they come (up to `capacity`), and gives
//! its memory back as they are read. An active room that is quiet costs a few hundred bytes,
//! not `capacity` slots; ten thousand of them cost megabytes, not gigabytes.
//!
//! Receivers take up to [`BATCH`] events per lock, so a reader that keeps up locks the
//! channel once per batch rather than once per event. What a receiver takes of an event is
//! its own choice ([`Sender::subscribe_with`]): a room's sessions take their thread's copy of
//! the frame rather than a reference to the event that every reader would count.

use futures_util::Stream;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Events a receiver takes per lock.
const BATCH: usize = 64;

/// Room for this many taken events stays with a receiver once they are handed out; more is
/// given back.
const KEPT_TAKEN: usize = 16;

/// A receiver fell behind by this many events: they are gone from the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged(pub u64);

struct Slot<T> {
    value: T,
    /// Receivers that have not read it yet.
    unread: usize,
}

struct State<T> {
    slots: VecDeque<Slot<T>>,
    /// The sequence number of `slots[0]`.
    head: u64,
    receivers: usize,
    /// Receivers waiting for the next event.
    wakers: Vec<Waker>,
    /// Bumped whenever `wakers` is emptied: a receiver that registered in this epoch is
    /// still in the list.
    epoch: u64,
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> State<T> {
    /// Frees the events every receiver has read, and memory the buffer no longer needs.
    fn release(&mut self) {
        while self.slots.front().is_some_and(|s| s.unread == 0) {
            self.slots.pop_front();
            self.head += 1;
        }
        let (len, cap) = (self.slots.len(), self.slots.capacity());
        if cap > 64 && len < cap / 8 {
            self.slots.shrink_to(len * 2);
        }
    }

    fn wake_all(&mut self) {
        self.epoch += 1;
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}

pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

pub struct Receiver<T, U = T> {
    shared: Arc<Shared<T>>,
    /// The sequence number of the next event to read.
    next: u64,
    /// What this receiver takes of an event.
    take_one: fn(&T) -> U,
    /// Events taken from the buffer, not yet handed out.
    taken: VecDeque<U>,
    /// The epoch in which this receiver's waker was registered.
    registered: Option<u64>,
}

/// A channel keeping at most `capacity` unread events.
pub fn channel<T: Clone>(capacity: usize) -> Sender<T> {
    Sender {
        shared: Arc::new(Shared {
            state: Mutex::new(State {
                slots: VecDeque::new(),
                head: 0,
                receivers: 0,
                wakers: Vec::new(),
                epoch: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
        }),
    }
}

impl<T: Clone> Sender<T> {
    /// Sends `value` to every receiver; returns how many there are (none: it is dropped).
    pub fn send(&self, value: T) -> usize {
        self.send_counted(value, |_| {})
    }

    /// Like [`Sender::send`], calling `count` with the number of receivers before any of
    /// them can see the value.
    pub fn send_counted(&self, value: T, count: impl FnOnce(usize)) -> usize {
        let mut state = self.shared.lock();
        let receivers = state.receivers;
        count(receivers);
        if receivers == 0 {
            return 0;
        }
        state.slots.push_back(Slot {
            value,
            unread: receivers,
        });
        if state.slots.len() > self.shared.capacity {
            state.slots.pop_front();
            state.head += 1;
        }
        state.wake_all();
        receivers
    }

    /// A receiver of every event sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        self.subscribe_with(T::clone)
    }

    /// A receiver of what `take_one` makes of every event sent from now on (called as the
    /// receiver takes the event, on the receiver's thread).
    pub fn subscribe_with<U>(&self, take_one: fn(&T) -> U) -> Receiver<T, U> {
        let mut state = self.shared.lock();
        state.receivers += 1;
        let next = state.head + state.slots.len() as u64;
        Receiver {
            shared: self.shared.clone(),
            next,
            take_one,
            taken: VecDeque::new(),
            registered: None,
        }
    }

    /// Events held now, for tests and metrics.
    pub fn held(&self) -> (usize, usize) {
        let state = self.shared.lock();
        (state.slots.len(), state.slots.capacity())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.wake_all();
    }
}

/// Takes the next events after `next` into `taken`, or says how many were missed.
fn take<T, U>(
    next: &mut u64,
    taken: &mut VecDeque<U>,
    take_one: fn(&T) -> U,
    state: &mut State<T>,
) -> Option<Lagged> {
    if *next < state.head {
        let missed = state.head - *next;
        *next = state.head;
        return Some(Lagged(missed));
    }
    let start = usize::try_from(*next - state.head).unwrap_or(usize::MAX);
    let end = state.slots.len().min(start.saturating_add(BATCH));
    taken.reserve_exact(end.saturating_sub(start));
    for slot in state.slots.range_mut(start..end) {
        slot.unread -= 1;
        taken.push_back(take_one(&slot.value));
    }
    *next += (end.saturating_sub(start)) as u64;
    state.release();
    None
}

// Nothing in a receiver is pinned in place.
impl<T, U> Unpin for Receiver<T, U> {}

impl<T, U> Stream for Receiver<T, U> {
    type Item = Result<U, Lagged>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Receiver {
            shared,
            next,
            take_one,
            taken,
            registered,
        } = &mut *self;
        if let Some(value) = taken.pop_front() {
            // A large batch handed out: its room goes, rather than stay with every receiver
            // of a room that once had a burst.
            if taken.is_empty() && taken.capacity() > KEPT_TAKEN {
                *taken = VecDeque::new();
            }
            return Poll::Ready(Some(Ok(value)));
        }
        let mut state = shared.lock();
        if let Some(lagged) = take(next, taken, *take_one, &mut state) {
            return Poll::Ready(Some(Err(lagged)));
        }
        if let Some(value) = taken.pop_front() {
            return Poll::Ready(Some(Ok(value)));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        if *registered != Some(state.epoch) {
            state.wakers.push(cx.waker().clone());
            *registered = Some(state.epoch);
        }
        Poll::Pending
    }
}

impl<T, U> Drop for Receiver<T, U> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receivers -= 1;
        let start = usize::try_from(self.next.saturating_sub(state.head)).unwrap_or(usize::MAX);
        let len = state.slots.len();
        for slot in state.slots.range_mut(start.min(len)..) {
            slot.unread -= 1;
        }
        while state.slots.front().is_some_and(|s| s.unread == 0) {
            state.slots.pop_front();
            state.head += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn now<T, U>(rx: &mut Receiver<T, U>) -> Option<Result<U, Lagged>> {
        let mut cx = Context::from_waker(Waker::noop());
        match rx.poll_next_unpin(&mut cx) {
            Poll::Ready(item) => item,
            Poll::Pending => None,
        }
    }

    #[test]
    fn nothing_is_allocated_until_events_come_and_read_events_are_freed() {
        let tx = channel::<u32>(4096);
        let mut a = tx.subscribe();
        let mut b = tx.subscribe();
        assert_eq!(tx.held(), (0, 0), "no slot allocated up front");
        for i in 0..1000 {
            assert_eq!(tx.send(i), 2);
        }
        assert_eq!(tx.held().0, 1000);
        for i in 0..1000 {
            assert_eq!(now(&mut a), Some(Ok(i)));
        }
        // b has not read them: they stay.
        assert_eq!(tx.held().0, 1000);
        for i in 0..1000 {
            assert_eq!(now(&mut b), Some(Ok(i)));
        }
        assert_eq!(now(&mut a), None);
        assert!(
            a.taken.capacity() <= KEPT_TAKEN,
            "a receiver keeps no room for a whole batch: {}",
            a.taken.capacity()
        );
        let (held, capacity) = tx.held();
        assert_eq!(held, 0);
        assert!(
            capacity <= 64,
            "the buffer gave its memory back: {capacity}"
        );
    }

    #[test]
    fn each_receiver_takes_what_it_chose_of_each_event() {
        let tx = channel::<u32>(16);
        let mut same = tx.subscribe();
        let mut doubled = tx.subscribe_with(|n: &u32| u64::from(*n) * 2);
        for i in 0..3 {
            tx.send(i);
        }
        for i in 0..3 {
            assert_eq!(now(&mut same), Some(Ok(i)));
            assert_eq!(now(&mut doubled), Some(Ok(u64::from(i) * 2)));
        }
        assert_eq!(tx.held().0, 0, "read by both: freed");
    }

    #[test]
    fn a_reader_that_falls_behind_learns_how_many_it_missed() {
        let tx = channel::<u32>(8);
        let mut slow = tx.subscribe();
        for i in 0..20 {
            tx.send(i);
        }
        assert_eq!(tx.held().0, 8);
        assert_eq!(now(&mut slow), Some(Err(Lagged(12))));
        for i in 12..20 {
            assert_eq!(now(&mut slow), Some(Ok(i)));
        }
        assert_eq!(now(&mut slow), None);
    }

    #[test]
    fn late_subscribers_and_dropped_receivers_hold_nothing() {
        let tx = channel::<u32>(16);
        assert_eq!(tx.send(1), 0, "no receivers: nothing kept");
        let a = tx.subscribe();
        tx.send(2);
        let mut late = tx.subscribe();
        tx.send(3);
        assert_eq!(now(&mut late), Some(Ok(3)));
        drop(a);
        assert_eq!(
            tx.held().0,
            0,
            "the dropped receiver's unread events are freed"
        );
    }

    #[test]
    fn a_closed_channel_ends_the_stream() {
        let tx = channel::<u32>(4);
        let mut rx = tx.subscribe();
        tx.send(7);
        drop(tx);
        assert_eq!(now(&mut rx), Some(Ok(7)));
        assert_eq!(now(&mut rx), None);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(rx.poll_next_unpin(&mut cx), Poll::Ready(None));
    }

    #[actix_web::test]
    async fn a_waiting_reader_is_woken() {
        let tx = channel::<u32>(4);
        let mut rx = tx.subscribe();
        let reader = tokio::spawn(async move { rx.next().await });
        tokio::task::yield_now().await;
        tx.send(5);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await;
        assert!(matches!(got, Ok(Ok(Some(Ok(5))))), "{got:?}");
    }
}
