//! The hub: finds or starts the actor of a room, publishes stored messages to it, and knows
//! every live session, so that shutdown can close them and a new room can be announced to
//! the users who may see it.

use super::room::{Broadcast, Publish, Room};
use super::session::Signal;
use crate::metrics::Metrics;
use actix::{Actor, Addr, Arbiter, ArbiterHandle, Recipient};
use natter_shared::{Message, RoomId, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub type SessionId = u64;

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    arbiter: ArbiterHandle,
    rooms: Mutex<HashMap<RoomId, Addr<Room>>>,
    /// Every live session and, once it has authenticated, its user.
    sessions: Mutex<HashMap<SessionId, Registered>>,
    next_session: AtomicU64,
    room_buffer: usize,
    metrics: Arc<Metrics>,
}

struct Registered {
    user: Option<UserId>,
    signals: Recipient<Signal>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// Starts the hub's thread, where room actors run. Needs a running actix `System`.
    pub fn new(room_buffer: usize, metrics: Arc<Metrics>) -> Self {
        let arbiter = Arbiter::new().handle();
        Self {
            inner: Arc::new(Inner {
                arbiter,
                rooms: Mutex::new(HashMap::new()),
                sessions: Mutex::new(HashMap::new()),
                next_session: AtomicU64::new(1),
                room_buffer,
                metrics,
            }),
        }
    }

    /// The actor of room `id`, started if none runs.
    pub fn room(&self, id: RoomId) -> Addr<Room> {
        let mut rooms = lock(&self.inner.rooms);
        if let Some(addr) = rooms.get(&id).filter(|a| a.connected()) {
            return addr.clone();
        }
        let hub = self.clone();
        let buffer = self.inner.room_buffer;
        let addr = Room::start_in_arbiter(&self.inner.arbiter, move |_| Room::new(id, hub, buffer));
        rooms.insert(id, addr.clone());
        addr
    }

    /// The actor of room `id`, if one runs.
    pub fn existing_room(&self, id: RoomId) -> Option<Addr<Room>> {
        lock(&self.inner.rooms).get(&id).cloned()
    }

    /// Forgets room `id` if `addr` is still its actor; the room calls this when it empties.
    pub fn remove_room(&self, id: RoomId, addr: &Addr<Room>) {
        let mut rooms = lock(&self.inner.rooms);
        if rooms.get(&id).is_some_and(|a| a == addr) {
            rooms.remove(&id);
        }
    }

    /// Hands a stored message to its room's actor, if anyone is listening there. The writer
    /// calls this after the commit, in commit order, so every room sees its ids rise.
    pub fn publish(&self, message: &Message) {
        let rooms = lock(&self.inner.rooms);
        if let Some(addr) = rooms.get(&message.room_id) {
            addr.do_send(Publish(message.clone()));
        }
    }

    /// Hands a change (an edit, a deletion) to the room's subscribers, if any.
    pub fn broadcast(&self, room: RoomId, frame: natter_shared::ws::ServerFrame) {
        if let Some(addr) = lock(&self.inner.rooms).get(&room) {
            addr.do_send(Broadcast(frame));
        }
    }

    /// Tells every authenticated session that `room` was deleted.
    pub fn room_deleted(&self, room: RoomId) {
        for session in lock(&self.inner.sessions).values() {
            if session.user.is_some() {
                session.signals.do_send(Signal::RoomDeleted(room));
            }
        }
    }

    pub fn next_session_id(&self) -> SessionId {
        self.inner.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, id: SessionId, signals: Recipient<Signal>) {
        lock(&self.inner.sessions).insert(
            id,
            Registered {
                user: None,
                signals,
            },
        );
    }

    /// Records whose session `id` is, once it has authenticated.
    pub fn identify(&self, id: SessionId, user: UserId) {
        if let Some(session) = lock(&self.inner.sessions).get_mut(&id) {
            session.user = Some(user);
        }
    }

    pub fn unregister(&self, id: SessionId) {
        lock(&self.inner.sessions).remove(&id);
    }

    /// The counters every part of the server adds to.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// How many rooms have an actor now.
    pub fn active_rooms(&self) -> usize {
        lock(&self.inner.rooms).len()
    }

    pub fn sessions(&self) -> usize {
        lock(&self.inner.sessions).len()
    }

    /// Asks every session to close with 1001 (going away).
    pub fn shutdown_sessions(&self) {
        for session in lock(&self.inner.sessions).values() {
            session.signals.do_send(Signal::Shutdown);
        }
    }

    /// Closes every socket of `user` (close 1008 with `reason`): their tokens were revoked.
    pub fn disconnect_user(&self, user: UserId, reason: &'static str) {
        for session in lock(&self.inner.sessions).values() {
            if session.user == Some(user) {
                session.signals.do_send(Signal::Revoked(reason));
            }
        }
    }

    /// Tells every authenticated session of `user` (or of everyone, for `None`) that `room`
    /// exists now, so that sidebars need not poll.
    pub fn announce_room(&self, user: Option<UserId>, room: &natter_shared::Room) {
        for session in lock(&self.inner.sessions).values() {
            if session.user.is_some() && (user.is_none() || session.user == user) {
                session.signals.do_send(Signal::RoomAdded(room.clone()));
            }
        }
    }
}
