//! The `rooms` and `room_members` tables: rooms of four kinds and who belongs to them.
//!
//! Every room has members, one `room_members` row each, with a role (`owner` or `member`)
//! and when they joined. Public rooms are readable by every signed-in user (members or not)
//! and listed in the directory; private rooms, direct and group conversations exist only for
//! their members: for anyone else every query here answers `None`, and callers answer 404.

use super::DbConnection;
use super::schema::{messages, room_members, rooms, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_shared::{MessageId, Notify, Role, Room, RoomId, RoomKind, UserId};

pub const PUBLIC: &str = "public";
pub const PRIVATE: &str = "private";
pub const DIRECT: &str = "direct";
pub const GROUP: &str = "group";
pub const OWNER: &str = "owner";
pub const MEMBER: &str = "member";

/// The kinds with a name and owners, and the conversations of a fixed set of people.
pub const NAMED: [&str; 2] = [PUBLIC, PRIVATE];
pub const CONVERSATIONS: [&str; 2] = [DIRECT, GROUP];

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rooms)]
pub struct RoomRow {
    pub id: i64,
    pub kind: String,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub member_count: i32,
}

impl RoomRow {
    pub fn kind(&self) -> RoomKind {
        match self.kind.as_str() {
            PRIVATE => RoomKind::Private,
            DIRECT => RoomKind::Direct,
            GROUP => RoomKind::Group,
            _ => RoomKind::Public,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = rooms)]
pub struct NewRoom<'a> {
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub name_key: Option<&'a str>,
    pub direct_key: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn role(s: &str) -> Role {
    if s == OWNER {
        Role::Owner
    } else {
        Role::Member
    }
}

/// The room as one user sees it: with their role (`None`: not a member) and, for a
/// conversation, the other members' names.
pub fn view(row: RoomRow, mine: Option<&str>, mut others: Vec<String>) -> Room {
    let kind = row.kind();
    others.sort();
    let name = match kind {
        RoomKind::Public | RoomKind::Private => row.name.unwrap_or_default(),
        RoomKind::Direct | RoomKind::Group => others.join(", "),
    };
    Room {
        id: RoomId(row.id),
        name,
        kind,
        peer: (kind == RoomKind::Direct).then(|| others.first().cloned().unwrap_or_default()),
        topic: row.topic,
        member_count: u32::try_from(row.member_count).unwrap_or(0),
        members: if kind.is_named() { Vec::new() } else { others },
        role: mine.map(role),
        last_message_id: None,
        last_read_id: None,
        unread: 0,
        mentions: 0,
        // Known to room lists alone: a change told to everyone in the room carries none.
        notify: None,
    }
}

pub fn insert(conn: &mut DbConnection, new: &NewRoom<'_>) -> QueryResult<RoomRow> {
    crate::each_backend!(conn, |c| diesel::insert_into(rooms::table)
        .values(new)
        .returning(RoomRow::as_returning())
        .get_result(c))
}

/// Makes `user` a member with `role`, unless they are one: whether they were added now. A
/// new member has read what was said before they came (their marker is the newest message).
pub fn add_member(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
    role: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let newest: Option<i64> = messages::table
        .filter(messages::room_id.eq(room.0))
        .select(diesel::dsl::max(messages::id))
        .first(conn)?;
    let row = (
        room_members::room_id.eq(room.0),
        room_members::user_id.eq(user.0),
        room_members::role.eq(role),
        room_members::joined_at.eq(now),
        room_members::last_read_id.eq(newest.unwrap_or(0)),
    );
    let added = crate::each_backend!(conn, |c| diesel::insert_into(room_members::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(added > 0)
}

/// Ends a membership: whether there was one.
pub fn remove_member(conn: &mut DbConnection, room: RoomId, user: UserId) -> QueryResult<bool> {
    diesel::delete(room_members::table.find((room.0, user.0)))
        .execute(conn)
        .map(|n| n > 0)
}

/// The room and the caller's role in it (`None`: not a member), whether or not they may see
/// it: callers decide with [`may_see`].
pub fn with_role(
    conn: &mut DbConnection,
    id: RoomId,
    user: UserId,
) -> QueryResult<Option<(RoomRow, Option<String>)>> {
    rooms::table
        .left_join(
            room_members::table.on(room_members::room_id
                .eq(rooms::id)
                .and(room_members::user_id.eq(user.0))),
        )
        .filter(rooms::id.eq(id.0))
        .select((RoomRow::as_select(), room_members::role.nullable()))
        .first(conn)
        .optional()
}

/// Whether someone with `role` in a room of `kind` may see it: members always; others only
/// public rooms.
pub fn may_see(kind: &str, role: Option<&str>) -> bool {
    role.is_some() || kind == PUBLIC
}

/// Whether `user` may see room `id` (one query; for checks that need no more of the room).
pub fn can_see(conn: &mut DbConnection, id: RoomId, user: UserId) -> QueryResult<bool> {
    Ok(with_role(conn, id, user)?.is_some_and(|(row, role)| may_see(&row.kind, role.as_deref())))
}

/// The other members' names of conversations, by room.
fn others_in(
    conn: &mut DbConnection,
    user: UserId,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, Vec<String>>> {
    Ok(members_of(conn, ids)?
        .into_iter()
        .map(|(room, people)| {
            let names = people
                .into_iter()
                .filter(|(id, _)| *id != user.0)
                .map(|(_, name)| name)
                .collect();
            (room, names)
        })
        .collect())
}

/// The room `id` as `user` sees it, if they may see it. Anything else is `None`, so that
/// callers answer 404 and reveal nothing.
pub fn visible(conn: &mut DbConnection, id: RoomId, user: UserId) -> QueryResult<Option<Room>> {
    let Some((row, mine)) = with_role(conn, id, user)? else {
        return Ok(None);
    };
    if !may_see(&row.kind, mine.as_deref()) {
        return Ok(None);
    }
    let others = if row.kind().is_named() {
        Vec::new()
    } else {
        others_in(conn, user, &[row.id])?
            .remove(&row.id)
            .unwrap_or_default()
    };
    Ok(Some(view(row, mine.as_deref(), others)))
}

/// The rooms `ids` of `user`'s memberships as `user` sees them (named as in their room list),
/// in two queries however many: the rooms, then the other members of the conversations.
pub fn of_member(conn: &mut DbConnection, user: UserId, ids: &[i64]) -> QueryResult<Vec<Room>> {
    let rows: Vec<(RoomRow, String)> = rooms::table
        .inner_join(room_members::table)
        .filter(rooms::id.eq_any(ids))
        .filter(room_members::user_id.eq(user.0))
        .select((RoomRow::as_select(), room_members::role))
        .load(conn)?;
    let conversations: Vec<i64> = rows
        .iter()
        .filter(|(row, _)| !row.kind().is_named())
        .map(|(row, _)| row.id)
        .collect();
    let mut others = others_in(conn, user, &conversations)?;
    Ok(rows
        .into_iter()
        .map(|(row, role)| {
            let theirs = others.remove(&row.id).unwrap_or_default();
            view(row, Some(&role), theirs)
        })
        .collect())
}

/// A membership as a room list shows it: the room, the role, and the read state.
#[derive(QueryableByName)]
struct ListedRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    name: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    topic: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    member_count: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    notify: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_read_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    last_message_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    unread: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    mentions: i64,
}

/// The page of memberships with their rooms and read state, in one statement: for each
/// membership, the newest message (one index probe), the unread messages by others counted
/// up to a cap (`?4`; the room's index carries author and deletion, so this reads the index
/// alone), the unread mentions by name (the `mentions` table by user and room) and `@room`
/// (a partial index holds only those messages). `?n` is the n-th of [`PageQuery`]'s values.
const PAGE_SQL: &str = "SELECT r.id, r.kind, r.name, r.topic, r.member_count,
       m.role, m.notify, m.last_read_id,
       COALESCE((SELECT MAX(x.id) FROM messages x WHERE x.room_id = m.room_id), 0)
           AS last_message_id,
       (SELECT COUNT(*) FROM (SELECT 1 FROM messages x
            WHERE x.room_id = m.room_id AND x.id > m.last_read_id
              AND x.author_id <> ?1 AND x.deleted_at IS NULL
            LIMIT ?4) u) AS unread,
       (SELECT COUNT(*) FROM mentions n
            WHERE n.user_id = ?1 AND n.room_id = m.room_id AND n.message_id > m.last_read_id)
       + (SELECT COUNT(*) FROM messages x
            WHERE x.room_id = m.room_id AND x.mentions_room AND x.id > m.last_read_id
              AND x.author_id <> ?1 AND x.deleted_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM mentions n
                  WHERE n.message_id = x.id AND n.user_id = ?1)) AS mentions
  FROM room_members m JOIN rooms r ON r.id = m.room_id
 WHERE m.user_id = ?1 AND m.room_id > ?2
 ORDER BY m.room_id
 LIMIT ?3";

/// [`PAGE_SQL`] as a query of its own type, so that diesel keeps it prepared (it prepares
/// `sql_query` text afresh on every call, and planning this statement cost more than running
/// it). Each engine gets its own placeholders.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId)]
struct PageQuery {
    user: i64,
    after: i64,
    limit: i64,
    cap: i64,
}

impl diesel::query_builder::Query for PageQuery {
    type SqlType = diesel::sql_types::Untyped;
}

impl<DB> diesel::query_builder::QueryFragment<DB> for PageQuery
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        let mut rest = PAGE_SQL;
        while let Some(at) = rest.find('?') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            let value = match &rest[at + 1..at + 1 + digits] {
                "1" => &self.user,
                "2" => &self.after,
                "3" => &self.limit,
                _ => &self.cap,
            };
            out.push_bind_param::<diesel::sql_types::BigInt, i64>(value)?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for PageQuery {}

/// A member's view of a room's newest messages, as room lists show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadCounts {
    /// The room's newest message (0: none).
    pub last: i64,
    /// Messages by others after the marker, deleted ones not counted, up to the cap.
    pub unread: i64,
    /// Unread messages by others that mention the member, by name or `@room`.
    pub mentions: i64,
}

/// A membership as room lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub room: i64,
    pub owner: bool,
    /// The level chosen (`None`: the default of the room's kind).
    pub notify: Option<Notify>,
    pub last_read_id: i64,
}

/// A room as room lists show it: its row and, for a conversation, every member's id and name.
#[derive(Debug, Clone)]
pub struct Listed {
    pub row: RoomRow,
    pub members: Vec<(i64, String)>,
}

impl Membership {
    fn of(room: i64, role: &str, notify: Option<&str>, last_read_id: i64) -> Self {
        Self {
            room,
            owner: role == OWNER,
            notify: notify.and_then(Notify::parse),
            last_read_id,
        }
    }
}

/// `user`'s memberships by room id, the first `limit`.
pub fn memberships_of(
    conn: &mut DbConnection,
    user: UserId,
    limit: i64,
) -> QueryResult<Vec<Membership>> {
    let rows: Vec<(i64, String, Option<String>, i64)> = room_members::table
        .filter(room_members::user_id.eq(user.0))
        .order(room_members::room_id)
        .limit(limit)
        .select((
            room_members::room_id,
            room_members::role,
            room_members::notify,
            room_members::last_read_id,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(room, role, notify, marker)| Membership::of(room, &role, notify.as_deref(), marker))
        .collect())
}

/// A page of `user`'s memberships (at most `limit` with room ids above `after`) with their
/// rooms as room lists show them: the memberships joined to their rooms in one query, then
/// the members of the conversations among them. No query per room.
pub fn page_of(
    conn: &mut DbConnection,
    user: UserId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<(Membership, Listed)>> {
    let rows: Vec<(RoomRow, String, Option<String>, i64)> = room_members::table
        .inner_join(rooms::table)
        .filter(room_members::user_id.eq(user.0))
        .filter(room_members::room_id.gt(after))
        .order(room_members::room_id)
        .limit(limit)
        .select((
            RoomRow::as_select(),
            room_members::role,
            room_members::notify,
            room_members::last_read_id,
        ))
        .load(conn)?;
    let conversations: Vec<i64> = rows
        .iter()
        .filter(|(row, ..)| !row.kind().is_named())
        .map(|(row, ..)| row.id)
        .collect();
    let mut members = members_of(conn, &conversations)?;
    Ok(rows
        .into_iter()
        .map(|(row, role, notify, marker)| {
            let mine = Membership::of(row.id, &role, notify.as_deref(), marker);
            let room = Listed {
                members: members.remove(&row.id).unwrap_or_default(),
                row,
            };
            (mine, room)
        })
        .collect())
}

/// Every member's id and name of the conversations `ids`, by room.
fn members_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, Vec<(i64, String)>>> {
    let mut members: std::collections::HashMap<i64, Vec<(i64, String)>> = Default::default();
    if !ids.is_empty() {
        let all: Vec<(i64, i64, String)> = room_members::table
            .inner_join(users::table)
            .filter(room_members::room_id.eq_any(ids))
            .select((room_members::room_id, users::id, users::username))
            .load(conn)?;
        for (room, id, name) in all {
            members.entry(room).or_default().push((id, name));
        }
    }
    Ok(members)
}

/// One line of `user`'s room list: `room` with their membership and read state.
pub fn list_line(room: &Listed, user: UserId, mine: &Membership, counts: ReadCounts) -> Room {
    let others = room
        .members
        .iter()
        .filter(|(id, _)| *id != user.0)
        .map(|(_, name)| name.clone())
        .collect();
    let role = if mine.owner { OWNER } else { MEMBER };
    let mut line = view(room.row.clone(), Some(role), others);
    let id = |n: i64| (n > 0).then_some(MessageId(n));
    let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
    line.last_message_id = id(counts.last);
    line.last_read_id = id(mine.last_read_id);
    line.unread = count(counts.unread);
    line.mentions = count(counts.mentions);
    line.notify = Some(mine.notify.unwrap_or(Notify::default_for(line.kind)));
    line
}

/// A page of the rooms `user` is a member of, every kind, by id (at most `limit` with ids
/// above `after`), each with the caller's read state counted in the database: one statement
/// for the page, then the other members of the conversations among them. No query per room.
/// For readers whose unread messages predate what the hub's tallies hold.
pub fn counted_page(
    conn: &mut DbConnection,
    user: UserId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<Room>> {
    let page = PageQuery {
        user: user.0,
        after,
        limit,
        cap: i64::from(natter_shared::limits::UNREAD_COUNTED),
    };
    let rows: Vec<ListedRow> = crate::each_backend!(conn, |c| page.load(c))?;
    let conversations: Vec<i64> = rows
        .iter()
        .filter(|row| CONVERSATIONS.contains(&row.kind.as_str()))
        .map(|row| row.id)
        .collect();
    let mut members = members_of(conn, &conversations)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let room = Listed {
                members: members.remove(&row.id).unwrap_or_default(),
                row: RoomRow {
                    id: row.id,
                    kind: row.kind,
                    name: row.name,
                    topic: row.topic,
                    member_count: row.member_count,
                },
            };
            let mine = Membership::of(row.id, &row.role, row.notify.as_deref(), row.last_read_id);
            let counts = ReadCounts {
                last: row.last_message_id,
                unread: row.unread,
                mentions: row.mentions,
            };
            list_line(&room, user, &mine, counts)
        })
        .collect())
}

/// A page of the directory: public rooms by id, those whose name contains `q` (case-folded)
/// if given, with the caller's role in each.
pub fn directory(
    conn: &mut DbConnection,
    user: UserId,
    q: Option<&str>,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<Room>> {
    let mut query = rooms::table
        .left_join(
            room_members::table.on(room_members::room_id
                .eq(rooms::id)
                .and(room_members::user_id.eq(user.0))),
        )
        .filter(rooms::kind.eq(PUBLIC))
        .filter(rooms::id.gt(after))
        .order(rooms::id.asc())
        .limit(limit)
        .select((RoomRow::as_select(), room_members::role.nullable()))
        .into_boxed();
    if let Some(q) = q.filter(|q| !q.is_empty()) {
        let escaped = super::users::escape_like(q);
        query = query.filter(rooms::name_key.like(format!("%{escaped}%")).escape('\\'));
    }
    let rows: Vec<(RoomRow, Option<String>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, role)| view(row, role.as_deref(), Vec::new()))
        .collect())
}

/// A member as stored: user id, username, role, when they joined.
pub type MemberRow = (i64, String, String, NaiveDateTime);

/// A page of a room's members by user id: at most `limit` with ids above `after`, those
/// whose name starts with `prefix` (by name key: any case, look-alikes alike) if given.
pub fn members(
    conn: &mut DbConnection,
    room: RoomId,
    prefix: Option<&str>,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<MemberRow>> {
    let mut query = room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq(room.0))
        .filter(room_members::user_id.gt(after))
        .into_boxed();
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        let key = super::users::escape_like(&natter_shared::names::name_key(prefix));
        query = query.filter(users::username_key.like(format!("{key}%")).escape('\\'));
    }
    query
        .order(room_members::user_id.asc())
        .limit(limit)
        .select((
            users::id,
            users::username,
            room_members::role,
            room_members::joined_at,
        ))
        .load(conn)
}

/// Every member's id and role (for telling each of a change to the room).
pub fn member_roles(conn: &mut DbConnection, room: RoomId) -> QueryResult<Vec<(UserId, String)>> {
    room_members::table
        .filter(room_members::room_id.eq(room.0))
        .select((room_members::user_id, room_members::role))
        .load::<(i64, String)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(id, role)| (UserId(id), role))
                .collect()
        })
}

/// How many rooms `user` is a member of.
pub fn memberships(conn: &mut DbConnection, user: UserId) -> QueryResult<i64> {
    room_members::table
        .filter(room_members::user_id.eq(user.0))
        .count()
        .get_result(conn)
}

/// How many owners the room has.
pub fn owners(conn: &mut DbConnection, room: RoomId) -> QueryResult<i64> {
    room_members::table
        .filter(room_members::room_id.eq(room.0))
        .filter(room_members::role.eq(OWNER))
        .count()
        .get_result(conn)
}

/// Makes the longest-standing member the owner, if the room has no owner left: who.
pub fn hand_over(conn: &mut DbConnection, room: RoomId) -> QueryResult<Option<UserId>> {
    if owners(conn, room)? > 0 {
        return Ok(None);
    }
    let heir: Option<i64> = room_members::table
        .filter(room_members::room_id.eq(room.0))
        .order((room_members::joined_at.asc(), room_members::user_id.asc()))
        .select(room_members::user_id)
        .first(conn)
        .optional()?;
    if let Some(heir) = heir {
        diesel::update(room_members::table.find((room.0, heir)))
            .set(room_members::role.eq(OWNER))
            .execute(conn)?;
    }
    Ok(heir.map(UserId))
}

/// Renames a room (`name` with its key) and sets or clears its topic.
pub fn update(
    conn: &mut DbConnection,
    room: RoomId,
    name: Option<(&str, &str)>,
    topic: Option<Option<&str>>,
) -> QueryResult<()> {
    if let Some((name, key)) = name {
        diesel::update(rooms::table.find(room.0))
            .set((rooms::name.eq(name), rooms::name_key.eq(key)))
            .execute(conn)?;
    }
    if let Some(topic) = topic {
        diesel::update(rooms::table.find(room.0))
            .set(rooms::topic.eq(topic))
            .execute(conn)?;
    }
    Ok(())
}

/// How many named rooms (`NAMED`) or conversations (`CONVERSATIONS`) the user created.
pub fn created_by(conn: &mut DbConnection, user: UserId, kinds: [&str; 2]) -> QueryResult<i64> {
    rooms::table
        .filter(rooms::created_by.eq(user.0))
        .filter(rooms::kind.eq_any(kinds))
        .count()
        .get_result(conn)
}

/// Whether `user` is a member of room `id`. `/sms` goes only to members.
pub fn is_member(conn: &mut DbConnection, id: RoomId, user: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        room_members::table.find((id.0, user.0)),
    ))
    .get_result(conn)
}

/// The key that makes a conversation unique, whoever opens it: the sorted member ids joined
/// by ':' ("LOW:HIGH" for two, as direct rooms always had).
pub fn conversation_key(people: &[UserId]) -> String {
    let mut ids: Vec<i64> = people.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(":")
}

/// The conversation of exactly these people, if they have one.
pub fn find_conversation(conn: &mut DbConnection, people: &[UserId]) -> QueryResult<Option<i64>> {
    rooms::table
        .filter(rooms::direct_key.eq(conversation_key(people)))
        .select(rooms::id)
        .first::<i64>(conn)
        .optional()
}

/// The conversation of `people` (`me` among them): a direct room for two, a group for more,
/// made on first use. Someone who left a group is a member again. Returns the room id,
/// whether it was made now, and who became a member now.
pub fn open_conversation(
    conn: &mut DbConnection,
    me: UserId,
    people: &[UserId],
    now: NaiveDateTime,
) -> QueryResult<(i64, bool, Vec<UserId>)> {
    super::write_transaction(conn, |conn| {
        let (id, made) = match find_conversation(conn, people)? {
            Some(id) => (id, false),
            None => {
                let key = conversation_key(people);
                let row = insert(
                    conn,
                    &NewRoom {
                        kind: if people.len() == 2 { DIRECT } else { GROUP },
                        name: None,
                        name_key: None,
                        direct_key: Some(&key),
                        topic: None,
                        created_by: Some(me.0),
                        created_at: now,
                    },
                )?;
                (row.id, true)
            }
        };
        let mut added = Vec::new();
        for person in people {
            if add_member(conn, RoomId(id), *person, MEMBER, now)? {
                added.push(*person);
            }
        }
        Ok((id, made, added))
    })
}

/// Deletes a room; its members, messages and their uploads go with it. `None` if there was
/// none; else the digests of the files its messages carried, for
/// [`crate::files::Files::release`] once this is committed.
pub fn delete(conn: &mut DbConnection, id: RoomId) -> QueryResult<Option<Vec<String>>> {
    let files = super::uploads::of_room(conn, id)?;
    let gone = diesel::delete(rooms::table.find(id.0)).execute(conn)?;
    Ok((gone > 0).then_some(files))
}

/// Whether `user` may move their read marker of `room` to `message`: `None` when they are
/// not a member, else whether the message is one of the room's (deleted ones too: a marker
/// may rest on one). One query.
pub fn read_target(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
    message: MessageId,
) -> QueryResult<Option<bool>> {
    room_members::table
        .find((room.0, user.0))
        .select(diesel::dsl::exists(
            messages::table
                .filter(messages::id.eq(message.0))
                .filter(messages::room_id.eq(room.0)),
        ))
        .first(conn)
        .optional()
}

/// Moves `user`'s read marker of `room` forward to `message`: whether it moved (an older
/// message, or a membership that ended meanwhile, changes nothing).
pub fn advance_marker(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
    message: MessageId,
) -> QueryResult<bool> {
    diesel::update(
        room_members::table
            .find((room.0, user.0))
            .filter(room_members::last_read_id.lt(message.0)),
    )
    .set(room_members::last_read_id.eq(message.0))
    .execute(conn)
    .map(|n| n > 0)
}

/// `user`'s read marker of `room` (0: nothing read), if they are a member.
pub fn marker(conn: &mut DbConnection, room: RoomId, user: UserId) -> QueryResult<Option<i64>> {
    room_members::table
        .find((room.0, user.0))
        .select(room_members::last_read_id)
        .first(conn)
        .optional()
}

/// Sets `user`'s notification level for `room`: whether they are a member.
pub fn set_notify(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
    notify: Notify,
) -> QueryResult<bool> {
    diesel::update(room_members::table.find((room.0, user.0)))
        .set(room_members::notify.eq(notify.as_str()))
        .execute(conn)
        .map(|n| n > 0)
}
