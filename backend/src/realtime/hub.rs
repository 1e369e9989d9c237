//! The hub: finds or starts the actor of a room, publishes stored messages to it, and knows
//! every live session, so that shutdown can close them and a new room can be announced to
//! the users who may see it.
//!
//! With other nodes ([`super::cluster`]), each event that starts here goes to them too, and
//! the hub keeps who is online in each room on the other nodes. The `*_here` methods reach
//! this node's sockets only: they are what a notice from another node calls.

use super::cluster::{Link, NodeEvent};
use super::room::{Broadcast, Online, Publish, RemotePresence, Room, Typing};
use super::session::Signal;
use crate::metrics::Metrics;
use actix::{Actor, Addr, Arbiter, ArbiterHandle, Recipient};
use natter_shared::{Message, MessageId, RoomId, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

pub type SessionId = u64;

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    arbiter: ArbiterHandle,
    rooms: Mutex<HashMap<RoomId, Addr<Room>>>,
    /// Every live session and, once it has authenticated, its user.
    sessions: Mutex<Sessions>,
    next_session: AtomicU64,
    room_buffer: usize,
    /// Copies of each live frame: one per session thread.
    frame_copies: usize,
    metrics: Arc<Metrics>,
    /// The way to the other nodes, once connected.
    link: OnceLock<Link>,
    /// Room lists and memberships from memory (the handlers share this handle).
    lists: crate::room_lists::RoomLists,
    /// Who is online in which room on this node (a user with any session there), by name.
    local: Mutex<HashMap<(RoomId, UserId), String>>,
    /// Who is online in which room on other nodes, and on which.
    remote: Mutex<HashMap<RoomId, HashMap<UserId, RemoteUser>>>,
    /// Pages of history that sessions catching up share.
    pages: super::pages::Pages,
    /// What room lists count of each room's newest messages.
    tallies: super::tallies::Tallies,
    /// The newest messages of rooms read lately, for history pages.
    recent: super::recent::Recent,
}

struct RemoteUser {
    name: String,
    nodes: HashSet<String>,
}

struct Registered {
    user: Option<UserId>,
    signals: Recipient<Signal>,
}

/// The live sessions, and those of each user: what is told to one user (a read marker, a
/// room of theirs) reaches their few sessions without a walk over everyone's.
#[derive(Default)]
struct Sessions {
    all: HashMap<SessionId, Registered>,
    by_user: HashMap<UserId, Vec<SessionId>>,
}

impl Sessions {
    fn values(&self) -> impl Iterator<Item = &Registered> {
        self.all.values()
    }

    fn of(&self, user: UserId) -> impl Iterator<Item = &Registered> {
        self.by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|id| self.all.get(id))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// Starts the hub's thread, where room actors run. Needs a running actix `System`.
    /// `workers`: the threads sessions run on, one copy of each live frame for each (up to
    /// eight; see [`super::Event`]).
    pub fn new(
        room_buffer: usize,
        workers: usize,
        metrics: Arc<Metrics>,
        lists: crate::room_lists::RoomLists,
    ) -> Self {
        let arbiter = Arbiter::new().handle();
        Self {
            inner: Arc::new(Inner {
                arbiter,
                rooms: Mutex::new(HashMap::new()),
                sessions: Mutex::new(Sessions::default()),
                next_session: AtomicU64::new(1),
                room_buffer,
                frame_copies: workers.clamp(1, 8),
                metrics,
                link: OnceLock::new(),
                lists,
                local: Mutex::new(HashMap::new()),
                remote: Mutex::new(HashMap::new()),
                pages: Default::default(),
                tallies: Default::default(),
                recent: Default::default(),
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
        self.inner.tallies.message(message);
        self.inner.recent.message(message);
        let rooms = lock(&self.inner.rooms);
        if let Some(addr) = rooms.get(&message.room_id) {
            addr.do_send(Publish(message.clone()));
        }
    }

    /// Who is online in `room`, by name: nobody while the room is not active here.
    pub async fn online_in(&self, room: RoomId) -> Vec<String> {
        match self.existing_room(room) {
            Some(addr) => addr.send(Online).await.unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Sends on from now on every event that starts here to the other nodes.
    pub fn connect(&self, link: Link) {
        // Until the link is up, edits made elsewhere go unheard.
        self.inner.recent.pause(true);
        self.inner.lists.connect(link.clone());
        let _ = self.inner.link.set(link);
    }

    /// Tells the other nodes, if there are any; the notice is only made when there are.
    pub fn relay(&self, notice: impl FnOnce() -> NodeEvent) {
        if let Some(link) = self.inner.link.get() {
            link.send(notice());
        }
    }

    /// Says goodbye to the other nodes, if any, waiting a moment for it to go out.
    pub async fn leave_cluster(&self) {
        if let Some(link) = self.inner.link.get() {
            link.leave(std::time::Duration::from_secs(1)).await;
        }
    }

    /// Whether there are other nodes to tell.
    pub fn is_clustered(&self) -> bool {
        self.inner.link.get().is_some()
    }

    /// Hands a change (an edit, a deletion) to the room's subscribers, on every node.
    pub fn broadcast(&self, room: RoomId, frame: natter_shared::ws::ServerFrame) {
        self.relay(|| NodeEvent::Frame {
            room,
            frame: frame.clone(),
        });
        self.broadcast_here(room, frame);
    }

    pub fn broadcast_here(&self, room: RoomId, frame: natter_shared::ws::ServerFrame) {
        // An edit, a deletion, a reaction: pages read before it would show the message as
        // it was.
        self.inner.pages.forget(room);
        self.inner.recent.forget(room);
        match &frame {
            natter_shared::ws::ServerFrame::Edited { message } => {
                self.inner.tallies.edited(message);
            }
            natter_shared::ws::ServerFrame::Deleted { message_id, .. } => {
                self.inner.tallies.deleted(room, *message_id);
            }
            _ => {}
        }
        if let Some(addr) = lock(&self.inner.rooms).get(&room) {
            addr.do_send(Broadcast(frame));
        }
    }

    /// Someone typed on another node.
    pub fn typing_here(&self, room: RoomId, user: UserId, username: String) {
        if let Some(addr) = lock(&self.inner.rooms).get(&room) {
            addr.do_send(Typing {
                user,
                username,
                relay: false,
            });
        }
    }

    /// Tells, on every node, that `room` was deleted: the sessions of `members` (those of a
    /// private room or conversation, which nobody else may know of), or every authenticated
    /// session (`None`: a public room, which anyone may have open).
    pub fn room_deleted(&self, room: RoomId, members: Option<Vec<UserId>>) {
        self.relay(|| NodeEvent::RoomDeleted {
            room,
            members: members.clone(),
        });
        self.room_deleted_here(room, members.as_deref());
    }

    /// Pages of history kept for sessions catching up.
    pub fn pages(&self) -> &super::pages::Pages {
        &self.inner.pages
    }

    /// What room lists count of each room's newest messages.
    pub fn tallies(&self) -> &super::tallies::Tallies {
        &self.inner.tallies
    }

    /// The newest messages of rooms read lately.
    pub fn recent(&self) -> &super::recent::Recent {
        &self.inner.recent
    }

    /// How many copies of each live frame a room makes: one per thread sessions run on.
    pub fn frame_copies(&self) -> usize {
        self.inner.frame_copies
    }

    /// Users' memberships and the rooms they list, from memory.
    pub fn lists(&self) -> &crate::room_lists::RoomLists {
        &self.inner.lists
    }

    pub fn room_deleted_here(&self, room: RoomId, members: Option<&[UserId]>) {
        self.inner.pages.forget(room);
        self.inner.recent.forget(room);
        self.inner.tallies.room_deleted(room);
        let Some(members) = members else {
            for session in lock(&self.inner.sessions).values() {
                if session.user.is_some() {
                    session.signals.do_send(Signal::RoomDeleted(room));
                }
            }
            return;
        };
        for member in members {
            self.tell_user(*member, || Signal::RoomDeleted(room));
        }
    }

    pub fn next_session_id(&self) -> SessionId {
        self.inner.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, id: SessionId, signals: Recipient<Signal>) {
        lock(&self.inner.sessions).all.insert(
            id,
            Registered {
                user: None,
                signals,
            },
        );
    }

    /// Records whose session `id` is, once it has authenticated.
    pub fn identify(&self, id: SessionId, user: UserId) {
        let mut sessions = lock(&self.inner.sessions);
        if let Some(session) = sessions.all.get_mut(&id) {
            session.user = Some(user);
            sessions.by_user.entry(user).or_default().push(id);
        }
    }

    pub fn unregister(&self, id: SessionId) {
        let mut sessions = lock(&self.inner.sessions);
        if let Some(user) = sessions.all.remove(&id).and_then(|s| s.user)
            && let Some(ids) = sessions.by_user.get_mut(&user)
        {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                sessions.by_user.remove(&user);
            }
        }
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
        lock(&self.inner.sessions).all.len()
    }

    /// Asks every session to close with 1001 (going away).
    pub fn shutdown_sessions(&self) {
        for session in lock(&self.inner.sessions).values() {
            session.signals.do_send(Signal::Shutdown);
        }
    }

    /// Closes every socket of `user` on every node (close 1008 with `reason`): their tokens
    /// were revoked.
    pub fn disconnect_user(&self, user: UserId, reason: &str) {
        self.relay(|| NodeEvent::Revoked {
            user,
            reason: reason.to_owned(),
        });
        self.disconnect_user_here(user, reason);
    }

    pub fn disconnect_user_here(&self, user: UserId, reason: &str) {
        self.tell_user(user, || Signal::Revoked(reason.to_owned()));
    }

    /// Sends each session of `user` on this node a signal.
    fn tell_user(&self, user: UserId, signal: impl Fn() -> Signal) {
        for session in lock(&self.inner.sessions).of(user) {
            session.signals.do_send(signal());
        }
    }

    /// Tells every session of `user`, on every node, that they are not a member of `room`
    /// any more: they leave it at once.
    pub fn member_removed(&self, room: RoomId, user: UserId) {
        self.relay(|| NodeEvent::Removed { room, user });
        self.member_removed_here(room, user);
    }

    pub fn member_removed_here(&self, room: RoomId, user: UserId) {
        self.tell_user(user, || Signal::Removed(room));
    }

    /// Tells every session of `user`, on every node, that their read marker of `room` is at
    /// `message` now.
    pub fn read_marker(&self, user: UserId, room: RoomId, message: MessageId) {
        self.relay(|| NodeEvent::Read {
            user,
            room,
            message,
        });
        self.read_marker_here(user, room, message);
    }

    pub fn read_marker_here(&self, user: UserId, room: RoomId, message: MessageId) {
        self.tell_user(user, || Signal::Read(room, message));
    }

    /// Tells every authenticated session of `user` (or of everyone, for `None`), on every
    /// node, that `room` exists now, so that sidebars need not poll.
    pub fn announce_room(&self, user: Option<UserId>, room: &natter_shared::Room) {
        self.relay(|| NodeEvent::RoomAdded {
            user,
            room: room.clone(),
        });
        self.announce_room_here(user, room);
    }

    pub fn announce_room_here(&self, user: Option<UserId>, room: &natter_shared::Room) {
        match user {
            Some(user) => self.tell_user(user, || Signal::RoomAdded(room.clone())),
            None => {
                for session in lock(&self.inner.sessions).values() {
                    if session.user.is_some() {
                        session.signals.do_send(Signal::RoomAdded(room.clone()));
                    }
                }
            }
        }
    }

    /// A room actor saw `user`'s first session join (`online`) or last one leave: tell the
    /// other nodes. Answers whether the user is online in the room on another node, in which
    /// case the room says nothing to its own sockets.
    pub fn presence_here(&self, room: RoomId, user: UserId, name: &str, online: bool) -> bool {
        if self.is_clustered() {
            {
                let mut local = lock(&self.inner.local);
                match online {
                    true => local.insert((room, user), name.to_owned()),
                    false => local.remove(&(room, user)),
                };
            }
            self.relay(|| NodeEvent::Presence {
                room,
                user,
                name: name.to_owned(),
                online,
            });
        }
        self.online_elsewhere(room, user)
    }

    /// Whether `user` has a session in `room` on another node.
    pub fn online_elsewhere(&self, room: RoomId, user: UserId) -> bool {
        lock(&self.inner.remote)
            .get(&room)
            .is_some_and(|users| users.contains_key(&user))
    }

    /// Who is online in `room` on other nodes.
    pub fn online_elsewhere_in(&self, room: RoomId) -> Vec<(UserId, String)> {
        lock(&self.inner.remote)
            .get(&room)
            .map_or_else(Vec::new, |users| {
                users.iter().map(|(id, u)| (*id, u.name.clone())).collect()
            })
    }

    /// Who is online here, for another node that (re)connects.
    pub fn local_presence(&self) -> Vec<(RoomId, UserId, String)> {
        lock(&self.inner.local)
            .iter()
            .map(|((room, user), name)| (*room, *user, name.clone()))
            .collect()
    }

    /// The other nodes this one knows to have users online.
    pub fn remote_nodes(&self) -> Vec<String> {
        let remote = lock(&self.inner.remote);
        let nodes: HashSet<&String> = remote
            .values()
            .flat_map(|users| users.values().flat_map(|u| u.nodes.iter()))
            .collect();
        nodes.into_iter().cloned().collect()
    }

    /// `user` came online in `room` on `node`, or left it there.
    pub fn remote_presence(
        &self,
        node: &str,
        room: RoomId,
        user: UserId,
        name: String,
        online: bool,
    ) {
        let changed = {
            let mut remote = lock(&self.inner.remote);
            let users = remote.entry(room).or_default();
            let changed = match online {
                true => {
                    let entry = users.entry(user).or_insert_with(|| RemoteUser {
                        name: name.clone(),
                        nodes: HashSet::new(),
                    });
                    entry.nodes.insert(node.to_owned()) && entry.nodes.len() == 1
                }
                false => match users.get_mut(&user) {
                    Some(entry) => {
                        entry.nodes.remove(node);
                        let gone = entry.nodes.is_empty();
                        if gone {
                            users.remove(&user);
                        }
                        gone
                    }
                    None => false,
                },
            };
            if users.is_empty() {
                remote.remove(&room);
            }
            changed
        };
        if changed {
            self.remote_changed(room, user, name, online);
        }
    }

    /// Replaces all that is known of `node`'s presence with `online`. Answers whether
    /// anything was known of it before.
    pub fn replace_node(&self, node: &str, online: Vec<(RoomId, UserId, String)>) -> bool {
        let now: HashSet<(RoomId, UserId)> = online.iter().map(|(r, u, _)| (*r, *u)).collect();
        let before: Vec<(RoomId, UserId, String)> = {
            let remote = lock(&self.inner.remote);
            remote
                .iter()
                .flat_map(|(room, users)| {
                    users
                        .iter()
                        .filter(|(_, u)| u.nodes.contains(node))
                        .map(|(user, u)| (*room, *user, u.name.clone()))
                })
                .collect()
        };
        let known = !before.is_empty();
        for (room, user, name) in before {
            if !now.contains(&(room, user)) {
                self.remote_presence(node, room, user, name, false);
            }
        }
        for (room, user, name) in online {
            self.remote_presence(node, room, user, name, true);
        }
        known
    }

    /// Forgets a node that stopped; its users go offline where no other node has them.
    /// Answers whether anything was known of it.
    pub fn drop_node(&self, node: &str) -> bool {
        self.replace_node(node, Vec::new())
    }

    fn remote_changed(&self, room: RoomId, user: UserId, name: String, online: bool) {
        if let Some(addr) = lock(&self.inner.rooms).get(&room) {
            addr.do_send(RemotePresence { user, name, online });
        }
    }
}

/// Storage hands committed messages to the rooms of this node and tells the other nodes.
impl crate::db::writer::Publish for Hub {
    fn publish(&self, message: &Message) {
        Hub::publish(self, message);
    }

    fn announce(&self, prev: i64, messages: &[&Message]) {
        self.relay(|| NodeEvent::messages(prev, messages));
    }

    fn starting(&self, published: i64) {
        self.inner.tallies.reset(published);
        self.inner.recent.forget_all();
    }
}
