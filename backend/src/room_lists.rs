//! Room lists from memory: each user's memberships and the rooms they list, kept by the one
//! process that serves an SQLite database, so that `GET /api/rooms` needs no trip to the
//! database while nothing it shows has changed.
//!
//! What is kept: per user, their name, whether their account is active and its token version
//! (the token check) and every membership (role, notification level, read marker); per room,
//! its row and, for a conversation, its members' names. What is not kept here: each room's
//! newest message and the unread and mention counts, which come from the hub's tallies.
//!
//! Every change to what is kept goes through a handler of this process, which forgets the
//! entries it touched once the change is committed (a read marker is moved in place). A
//! handler that reads the database to fill an entry takes a ticket first, and the entry is
//! kept only if nothing forgot that user or room after the ticket: a reader that saw the
//! database before a commit cannot store what the commit changed.
//!
//! On Postgres several nodes may share the database, and a change made on another node does
//! not pass through this one's handlers: there the lists are kept only with Redis
//! (`REDIS_URL`), and every change a handler forgets is told to the other nodes, which
//! forget it too (a moved read marker travels as the `Read` notice the hub sends anyway).
//! What a node could have missed is forgotten whole: while its own link to Redis is down it
//! keeps nothing (paused), and it forgets everything when the link comes back, when another
//! node (re)joins (it may have changed something while its notices could not go out) and when
//! another node is taken for dead (it may have died between a commit and its notice). Without
//! Redis, on Postgres, the lists stay off and are read from the database every time.

use crate::auth::{AuthUser, SignedUser};
use crate::db::DbConnection;
use crate::db::rooms::{self, Listed, Membership};
use crate::error::ApiResult;
use crate::realtime::Hub;
use crate::realtime::cluster::{Link, NodeEvent};
use natter_shared::{Room, RoomId, UserId};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// The most memberships kept over all users; past it everything is forgotten.
const MAX_MEMBERSHIPS: usize = 1 << 19;
/// The most rooms kept; past it everything is forgotten.
const MAX_ROOMS: usize = 1 << 16;
/// The most memberships of one user kept: a user with more is read from the database.
pub const MAX_PER_USER: usize = 2_000;
/// The most forgotten entries remembered (each holds when it was forgotten); past it
/// everything is forgotten at once.
const MAX_FORGOTTEN: usize = 1 << 16;

/// A user as room lists need them.
#[derive(Debug, Clone)]
pub struct Person {
    pub username: String,
    pub token_version: i32,
    /// Every membership, by room id.
    pub rooms: BTreeMap<i64, Membership>,
}

/// An entry, or when it was last forgotten.
struct Slot<T> {
    forgotten_at: u64,
    value: Option<Arc<T>>,
}

#[derive(Default)]
struct Inner {
    /// Rises at every change.
    clock: u64,
    /// When everything was last forgotten.
    cleared_at: u64,
    people: HashMap<UserId, Slot<Person>>,
    rooms: HashMap<RoomId, Slot<Listed>>,
    memberships: usize,
    forgotten: usize,
    /// Keeps and answers nothing: changes made on other nodes may go unheard.
    paused: bool,
}

/// When a reader started reading the database: see [`RoomLists::ticket`].
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

struct Shared {
    inner: Mutex<Inner>,
    /// The way to the other nodes, once this one joined them.
    link: OnceLock<Link>,
}

/// The handle the server holds (cheap to clone); off on Postgres without Redis.
#[derive(Clone, Default)]
pub struct RoomLists {
    shared: Option<Arc<Shared>>,
}

impl RoomLists {
    /// On when every change to the database is heard here: this process alone changes it
    /// (SQLite), or every node tells the others (Postgres with Redis; see
    /// [`RoomLists::connect`]).
    pub fn new(on: bool) -> Self {
        Self {
            shared: on.then(|| {
                Arc::new(Shared {
                    inner: Mutex::default(),
                    link: OnceLock::new(),
                })
            }),
        }
    }

    /// Whether it keeps anything now (on, and not paused).
    pub fn is_on(&self) -> bool {
        self.lock().is_some()
    }

    /// The state, when on and not paused.
    fn lock(&self) -> Option<MutexGuard<'_, Inner>> {
        self.lock_even_paused().filter(|inner| !inner.paused)
    }

    fn lock_even_paused(&self) -> Option<MutexGuard<'_, Inner>> {
        self.shared
            .as_ref()
            .map(|s| s.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// From now on every change forgotten here is told to the other nodes through `link`.
    /// Paused until [`RoomLists::pause`] says otherwise: the link is not up yet.
    pub fn connect(&self, link: Link) {
        if let Some(shared) = &self.shared {
            let _ = shared.link.set(link);
        }
        self.pause(true);
    }

    /// Forgets everything; with `paused`, keeps and answers nothing until called again
    /// without: for while this node cannot hear the others.
    pub fn pause(&self, paused: bool) {
        if let Some(mut inner) = self.lock_even_paused() {
            inner.clear();
            inner.paused = paused;
        }
    }

    fn relay(&self, notice: impl FnOnce() -> NodeEvent) {
        if let Some(link) = self.shared.as_ref().and_then(|s| s.link.get()) {
            link.send(notice());
        }
    }

    /// Taken before reading what [`RoomLists::keep_person`] or [`RoomLists::keep_rooms`]
    /// will keep.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().map_or(0, |inner| inner.clock))
    }

    /// `user` as kept, if they are.
    pub fn person(&self, user: UserId) -> Option<Arc<Person>> {
        self.lock()?.people.get(&user)?.value.clone()
    }

    /// Each of `ids` as kept, or `None` if any is not.
    pub fn rooms(&self, ids: impl Iterator<Item = i64>) -> Option<Vec<Arc<Listed>>> {
        let inner = self.lock()?;
        ids.map(|id| inner.rooms.get(&RoomId(id))?.value.clone())
            .collect()
    }

    /// Keeps `person`, read after `ticket`, unless they changed since.
    pub fn keep_person(&self, ticket: Ticket, user: UserId, person: Person) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        let at = inner.people.get(&user).map(|s| s.forgotten_at);
        if !inner.fresh(ticket, at) {
            return;
        }
        let n = person.rooms.len();
        if inner.memberships + n > MAX_MEMBERSHIPS {
            inner.clear();
        }
        let slot = Slot {
            // Kept, so that a reader with an older ticket cannot replace this.
            forgotten_at: at.unwrap_or(0),
            value: Some(Arc::new(person)),
        };
        inner.memberships += n;
        match inner.people.insert(user, slot) {
            Some(Slot { value: Some(p), .. }) => inner.memberships -= p.rooms.len(),
            Some(Slot { value: None, .. }) => inner.forgotten -= 1,
            None => {}
        }
    }

    /// Keeps `rooms`, read after `ticket`, but those that changed since.
    pub fn keep_rooms(&self, ticket: Ticket, rooms: impl IntoIterator<Item = Listed>) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        for room in rooms {
            let id = RoomId(room.row.id);
            let at = inner.rooms.get(&id).map(|s| s.forgotten_at);
            if !inner.fresh(ticket, at) {
                continue;
            }
            if inner.rooms.len() >= MAX_ROOMS {
                inner.clear();
            }
            let slot = Slot {
                forgotten_at: at.unwrap_or(0),
                value: Some(Arc::new(room)),
            };
            if inner
                .rooms
                .insert(id, slot)
                .is_some_and(|s| s.value.is_none())
            {
                inner.forgotten -= 1;
            }
        }
    }

    /// `user`'s memberships, name or token changed (committed), here and on every node.
    pub fn forget_person(&self, user: UserId) {
        self.forget(Some(user), None);
    }

    /// `room`'s row or members changed (committed), here and on every node.
    pub fn forget_room(&self, room: RoomId) {
        self.forget(None, Some(room));
    }

    /// `user` joined or left `room`, or their role there changed (committed), here and on
    /// every node.
    pub fn forget_membership(&self, room: RoomId, user: UserId) {
        self.forget(Some(user), Some(room));
    }

    fn forget(&self, person: Option<UserId>, room: Option<RoomId>) {
        if self.shared.is_none() {
            return;
        }
        self.forget_here(person, room);
        self.relay(|| NodeEvent::ListsChanged { person, room });
    }

    /// Forgets `person` and `room`, here only: what another node told.
    pub fn forget_here(&self, person: Option<UserId>, room: Option<RoomId>) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        let at = inner.tick();
        if let Some(user) = person {
            let old = forget_in(&mut inner.people, user, at, |p| p.rooms.len());
            inner.tombstone(old);
        }
        if let Some(room) = room {
            let old = forget_in(&mut inner.rooms, room, at, |_| 0);
            inner.tombstone(old);
        }
    }

    /// Forgets everything, here and on every node: for changes that touch many users at
    /// once (a room deleted).
    pub fn forget_all(&self) {
        if self.shared.is_none() {
            return;
        }
        self.forget_all_here();
        self.relay(|| NodeEvent::ListsCleared);
    }

    /// Forgets everything, here only.
    pub fn forget_all_here(&self) {
        if let Some(mut inner) = self.lock() {
            inner.clear();
        }
    }

    /// `user`'s read marker of `room` moved forward to `message` (committed), here only: the
    /// hub tells the other nodes (`Read`), which call this for it.
    pub fn marker_moved(&self, user: UserId, room: RoomId, message: i64) {
        let Some(mut inner) = self.lock() else {
            return;
        };
        let at = inner.tick();
        if let Some(slot) = inner.people.get_mut(&user) {
            if let Some(person) = &mut slot.value
                && let Some(m) = Arc::make_mut(person).rooms.get_mut(&room.0)
            {
                m.last_read_id = m.last_read_id.max(message);
            }
            // A reader that saw the marker before it moved must not keep what it read.
            slot.forgotten_at = at;
        }
    }
}

/// A page of the room list of the token's user (at most `limit` rooms with ids above
/// `after`), from memory alone: `None` if anything it needs is not kept (the user, their
/// token's version, a room, a count the tallies cannot give).
pub fn page_from_memory(
    lists: &RoomLists,
    hub: &Hub,
    signed: SignedUser,
    after: i64,
    limit: usize,
) -> Option<Vec<Room>> {
    let person = lists.person(signed.id())?;
    if person.token_version != signed.version() {
        return None;
    }
    let mine: Vec<&Membership> = person
        .rooms
        .range((Bound::Excluded(after), Bound::Unbounded))
        .take(limit)
        .map(|(_, m)| m)
        .collect();
    let listed = lists.rooms(mine.iter().map(|m| m.room))?;
    lines(hub, signed.id(), &person.username, &mine, &listed)
}

/// The same page read from the database, keeping what it read (when keeping is on);
/// counted in the database when the tallies cannot count it.
pub fn page_from_database(
    conn: &mut DbConnection,
    lists: &RoomLists,
    hub: &Hub,
    signed: SignedUser,
    after: i64,
    limit: usize,
) -> ApiResult<Vec<Room>> {
    let ticket = lists.ticket();
    let user = signed.check(conn)?;
    keep_person_read(conn, lists, ticket, &user)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let page = rooms::page_of(conn, user.id, after, limit)?;
    lists.keep_rooms(ticket, page.iter().map(|(_, room)| room.clone()));
    let (mine, listed): (Vec<&Membership>, Vec<&Listed>) =
        page.iter().map(|(mine, room)| (mine, room)).unzip();
    if let Some(lines) = lines(hub, user.id, &user.username, &mine, &listed) {
        return Ok(lines);
    }
    Ok(rooms::counted_page(conn, user.id, after, limit)?)
}

/// Reads and keeps `user`'s memberships (when keeping is on), `ticket` taken before `user`
/// was read. A user with more than [`MAX_PER_USER`] is not kept.
pub fn keep_person_read(
    conn: &mut DbConnection,
    lists: &RoomLists,
    ticket: Ticket,
    user: &AuthUser,
) -> ApiResult<()> {
    if !lists.is_on() {
        return Ok(());
    }
    let all = rooms::memberships_of(conn, user.id, MAX_PER_USER as i64 + 1)?;
    if all.len() <= MAX_PER_USER {
        let person = Person {
            username: user.username.clone(),
            token_version: user.token_version,
            rooms: all.into_iter().map(|m| (m.room, m)).collect(),
        };
        lists.keep_person(ticket, user.id, person);
    }
    Ok(())
}

/// The lines of a room list, counted by the tallies: `None` if they cannot count one.
fn lines<R: std::borrow::Borrow<Listed>>(
    hub: &Hub,
    user: UserId,
    name: &str,
    mine: &[&Membership],
    listed: &[R],
) -> Option<Vec<Room>> {
    let cap = i64::from(natter_shared::limits::UNREAD_COUNTED);
    let markers: Vec<(RoomId, i64)> = mine
        .iter()
        .map(|m| (RoomId(m.room), m.last_read_id))
        .collect();
    let counts = hub.tallies().counts(user, name, cap, &markers);
    mine.iter()
        .zip(listed)
        .zip(counts)
        .map(|((m, room), counts)| Some(rooms::list_line(room.borrow(), user, m, counts?)))
        .collect()
}

/// Marks `key` forgotten at `at`; what its slot held, as [`Inner::tombstone`] takes it
/// (`size`: how many memberships an entry holds).
fn forget_in<K: std::hash::Hash + Eq, T>(
    map: &mut HashMap<K, Slot<T>>,
    key: K,
    at: u64,
    size: impl Fn(&T) -> usize,
) -> Option<Option<usize>> {
    let slot = Slot {
        forgotten_at: at,
        value: None,
    };
    map.insert(key, slot).map(|s| s.value.map(|v| size(&v)))
}

impl Inner {
    /// The clock moved on: a change.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Whether an entry last forgotten at `forgotten_at` may be kept from a read after
    /// `ticket`.
    fn fresh(&self, ticket: Ticket, forgotten_at: Option<u64>) -> bool {
        self.cleared_at <= ticket.0 && forgotten_at.unwrap_or(0) <= ticket.0
    }

    fn clear(&mut self) {
        self.cleared_at = self.tick();
        self.people.clear();
        self.rooms.clear();
        self.memberships = 0;
        self.forgotten = 0;
    }

    /// An entry was forgotten: `old` is what its slot held (`None`: no slot; `Some(None)`:
    /// already forgotten; `Some(Some(n))`: kept, with `n` memberships).
    fn tombstone(&mut self, old: Option<Option<usize>>) {
        match old {
            Some(Some(n)) => self.memberships -= n,
            Some(None) => return,
            None => {}
        }
        self.forgotten += 1;
        if self.forgotten > MAX_FORGOTTEN {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::rooms::RoomRow;

    fn person(markers: &[(i64, i64)]) -> Person {
        Person {
            username: "ann".into(),
            token_version: 0,
            rooms: markers
                .iter()
                .map(|&(room, last_read_id)| {
                    (
                        room,
                        Membership {
                            room,
                            owner: false,
                            notify: None,
                            last_read_id,
                        },
                    )
                })
                .collect(),
        }
    }

    fn room(id: i64) -> Listed {
        Listed {
            row: RoomRow {
                id,
                kind: "public".into(),
                name: Some(format!("r{id}")),
                topic: None,
                member_count: 1,
            },
            members: Vec::new(),
        }
    }

    const ANN: UserId = UserId(1);

    #[test]
    fn off_keeps_nothing() {
        let d = RoomLists::new(false);
        d.keep_person(d.ticket(), ANN, person(&[(1, 0)]));
        assert!(d.person(ANN).is_none());
    }

    #[test]
    fn what_was_read_before_a_change_is_not_kept() {
        let d = RoomLists::new(true);
        let before = d.ticket();
        d.forget_membership(RoomId(1), ANN);
        d.keep_person(before, ANN, person(&[(1, 0)]));
        d.keep_rooms(before, [room(1)]);
        assert!(d.person(ANN).is_none());
        assert!(d.rooms([1].into_iter()).is_none());
        let after = d.ticket();
        d.keep_person(after, ANN, person(&[(1, 0)]));
        d.keep_rooms(after, [room(1)]);
        assert_eq!(d.person(ANN).unwrap().rooms.len(), 1);
        assert_eq!(d.rooms([1].into_iter()).unwrap()[0].row.id, 1);
        d.forget_room(RoomId(1));
        assert!(d.rooms([1].into_iter()).is_none());
    }

    #[test]
    fn a_marker_moves_in_place_and_only_forward() {
        let d = RoomLists::new(true);
        let before = d.ticket();
        d.keep_person(before, ANN, person(&[(1, 5), (2, 0)]));
        d.marker_moved(ANN, RoomId(1), 9);
        d.marker_moved(ANN, RoomId(1), 7);
        let ann = d.person(ANN).unwrap();
        assert_eq!(ann.rooms[&1].last_read_id, 9);
        assert_eq!(ann.rooms[&2].last_read_id, 0);
        // A reader that read the old marker does not overwrite the new one.
        d.keep_person(before, ANN, person(&[(1, 5), (2, 0)]));
        assert_eq!(d.person(ANN).unwrap().rooms[&1].last_read_id, 9);
    }

    #[test]
    fn a_reader_from_before_a_change_cannot_replace_one_from_after() {
        let d = RoomLists::new(true);
        let before = d.ticket();
        d.forget_person(ANN);
        d.keep_person(d.ticket(), ANN, person(&[(1, 9)]));
        d.keep_person(before, ANN, person(&[(1, 5)]));
        assert_eq!(d.person(ANN).unwrap().rooms[&1].last_read_id, 9);
        let before = d.ticket();
        d.forget_room(RoomId(1));
        d.keep_rooms(d.ticket(), [room(1)]);
        let mut old = room(1);
        old.row.name = Some("old".into());
        d.keep_rooms(before, [old]);
        assert_eq!(
            d.rooms([1].into_iter()).unwrap()[0].row.name.as_deref(),
            Some("r1")
        );
    }

    #[test]
    fn forgetting_everything_stops_earlier_readers_too() {
        let d = RoomLists::new(true);
        let before = d.ticket();
        d.keep_person(before, ANN, person(&[(1, 0)]));
        d.forget_all();
        assert!(d.person(ANN).is_none());
        d.keep_person(before, UserId(2), person(&[(1, 0)]));
        assert!(d.person(UserId(2)).is_none());
    }

    #[test]
    fn while_paused_nothing_is_kept_or_answered_and_earlier_readers_keep_nothing() {
        let d = RoomLists::new(true);
        d.keep_person(d.ticket(), ANN, person(&[(1, 0)]));
        let before = d.ticket();
        d.pause(true);
        assert!(!d.is_on());
        assert!(d.person(ANN).is_none(), "forgotten when paused");
        d.keep_person(d.ticket(), ANN, person(&[(1, 0)]));
        d.keep_rooms(d.ticket(), [room(1)]);
        d.pause(false);
        assert!(d.person(ANN).is_none() && d.rooms([1].into_iter()).is_none());
        d.keep_person(before, ANN, person(&[(1, 0)]));
        assert!(d.person(ANN).is_none(), "read before the pause");
        d.keep_person(d.ticket(), ANN, person(&[(1, 0)]));
        assert!(d.person(ANN).is_some());
    }

    #[test]
    fn forgetting_here_forgets_what_another_node_names() {
        let d = RoomLists::new(true);
        d.keep_person(d.ticket(), ANN, person(&[(1, 0)]));
        d.keep_rooms(d.ticket(), [room(1), room(2)]);
        d.forget_here(Some(ANN), Some(RoomId(1)));
        assert!(d.person(ANN).is_none());
        assert!(d.rooms([1].into_iter()).is_none());
        assert!(d.rooms([2].into_iter()).is_some());
        d.forget_all_here();
        assert!(d.rooms([2].into_iter()).is_none());
    }

    #[test]
    fn memberships_are_counted_as_they_come_and_go() {
        let d = RoomLists::new(true);
        d.keep_person(d.ticket(), ANN, person(&[(1, 0), (2, 0)]));
        d.keep_person(d.ticket(), UserId(2), person(&[(1, 0)]));
        assert_eq!(d.lock().unwrap().memberships, 3);
        d.keep_person(d.ticket(), ANN, person(&[(1, 0)]));
        assert_eq!(d.lock().unwrap().memberships, 2);
        d.forget_person(ANN);
        d.forget_person(ANN);
        let inner = d.lock().unwrap();
        assert_eq!((inner.memberships, inner.forgotten), (1, 1));
    }
}
