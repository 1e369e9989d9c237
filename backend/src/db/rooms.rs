//! The `rooms` and `room_members` tables: public rooms, direct rooms and who may see them.

use super::DbConnection;
use super::schema::{room_members, rooms, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_shared::{Room, RoomId, RoomKind, UserId};

pub const PUBLIC: &str = "public";
pub const DIRECT: &str = "direct";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rooms)]
pub struct RoomRow {
    pub id: i64,
    pub kind: String,
    pub name: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = rooms)]
pub struct NewRoom<'a> {
    pub kind: &'a str,
    pub name: Option<&'a str>,
    pub name_key: Option<&'a str>,
    pub direct_key: Option<&'a str>,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn public_room(row: RoomRow) -> Room {
    Room {
        id: RoomId(row.id),
        name: row.name.unwrap_or_default(),
        kind: RoomKind::Public,
        peer: None,
    }
}

pub fn direct_room(id: i64, peer: String) -> Room {
    Room {
        id: RoomId(id),
        name: peer.clone(),
        kind: RoomKind::Direct,
        peer: Some(peer),
    }
}

pub fn insert(conn: &mut DbConnection, new: &NewRoom<'_>) -> QueryResult<RoomRow> {
    crate::each_backend!(conn, |c| diesel::insert_into(rooms::table)
        .values(new)
        .returning(RoomRow::as_returning())
        .get_result(c))
}

/// The room `id` if `user` may see it: any public room, or a direct room they belong to.
/// Anything else is `None`, so that callers answer 404 and reveal nothing.
/// A page of the rooms `user` sees, by id: public rooms and the user's direct rooms with ids
/// above `after`, at most `limit`.
pub fn page_for(
    conn: &mut DbConnection,
    user: UserId,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<Room>> {
    let public: Vec<RoomRow> = rooms::table
        .filter(rooms::kind.eq(PUBLIC))
        .filter(rooms::id.gt(after))
        .order(rooms::id.asc())
        .limit(limit)
        .select(RoomRow::as_select())
        .load(conn)?;
    let (mine, theirs) = diesel::alias!(room_members as mine, room_members as theirs);
    let direct: Vec<(i64, String)> = mine
        .inner_join(
            theirs.on(theirs
                .field(room_members::room_id)
                .eq(mine.field(room_members::room_id))),
        )
        .inner_join(users::table.on(users::id.eq(theirs.field(room_members::user_id))))
        .filter(mine.field(room_members::user_id).eq(user.0))
        .filter(theirs.field(room_members::user_id).ne(user.0))
        .filter(mine.field(room_members::room_id).gt(after))
        .order(mine.field(room_members::room_id).asc())
        .limit(limit)
        .select((mine.field(room_members::room_id), users::username))
        .load(conn)?;
    let mut all: Vec<Room> = public
        .into_iter()
        .map(public_room)
        .chain(direct.into_iter().map(|(id, peer)| direct_room(id, peer)))
        .collect();
    all.sort_by_key(|r| r.id);
    all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(all)
}

/// How many rooms of `kind` the user created.
pub fn created_by(conn: &mut DbConnection, user: UserId, kind: &str) -> QueryResult<i64> {
    rooms::table
        .filter(rooms::created_by.eq(user.0))
        .filter(rooms::kind.eq(kind))
        .count()
        .get_result(conn)
}

/// Whether `user` takes part in room `id`: a member of a direct room, or someone who has
/// posted in a public one (public rooms have no members yet). `/sms` goes only to them.
pub fn takes_part(conn: &mut DbConnection, id: RoomId, user: UserId) -> QueryResult<bool> {
    use super::schema::messages;
    let member = diesel::select(diesel::dsl::exists(
        room_members::table
            .filter(room_members::room_id.eq(id.0))
            .filter(room_members::user_id.eq(user.0)),
    ))
    .get_result(conn)?;
    if member {
        return Ok(true);
    }
    diesel::select(diesel::dsl::exists(
        messages::table
            .inner_join(rooms::table)
            .filter(rooms::kind.eq(PUBLIC))
            .filter(messages::room_id.eq(id.0))
            .filter(messages::author_id.eq(user.0))
            .filter(messages::deleted_at.is_null()),
    ))
    .get_result(conn)
}

pub fn visible(conn: &mut DbConnection, id: RoomId, user: UserId) -> QueryResult<Option<Room>> {
    let Some(row) = rooms::table
        .find(id.0)
        .select(RoomRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if row.kind == PUBLIC {
        return Ok(Some(public_room(row)));
    }
    direct_peer(conn, id, user).map(|peer| peer.map(|peer| direct_room(row.id, peer)))
}

/// The other member of direct room `id`, if `user` is a member.
fn direct_peer(conn: &mut DbConnection, id: RoomId, user: UserId) -> QueryResult<Option<String>> {
    let members: Vec<(i64, String)> = room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq(id.0))
        .select((users::id, users::username))
        .load(conn)?;
    if !members.iter().any(|(uid, _)| *uid == user.0) {
        return Ok(None);
    }
    Ok(members
        .into_iter()
        .find(|(uid, _)| *uid != user.0)
        .map(|(_, name)| name))
}

/// The key that makes a pair's direct room unique, whoever opens it.
pub fn direct_key(a: UserId, b: UserId) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    format!("{lo}:{hi}")
}

/// The direct room of `me` and `peer`, made on first use. The bool is true when it was made now.
/// The direct room of two users, if they have one.
pub fn find_direct(conn: &mut DbConnection, a: UserId, b: UserId) -> QueryResult<Option<i64>> {
    rooms::table
        .filter(rooms::direct_key.eq(direct_key(a, b)))
        .select(rooms::id)
        .first::<i64>(conn)
        .optional()
}

pub fn open_direct(
    conn: &mut DbConnection,
    me: UserId,
    peer: UserId,
    now: NaiveDateTime,
) -> QueryResult<(i64, bool)> {
    super::write_transaction(conn, |conn| {
        if let Some(id) = find_direct(conn, me, peer)? {
            return Ok((id, false));
        }
        let key = direct_key(me, peer);
        let row = insert(
            conn,
            &NewRoom {
                kind: DIRECT,
                name: None,
                name_key: None,
                direct_key: Some(&key),
                created_by: Some(me.0),
                created_at: now,
            },
        )?;
        for member in [me, peer] {
            diesel::insert_into(room_members::table)
                .values((
                    room_members::room_id.eq(row.id),
                    room_members::user_id.eq(member.0),
                ))
                .execute(conn)?;
        }
        Ok((row.id, true))
    })
}

/// Deletes a room; its members and messages go with it. `false` if there was none.
pub fn delete(conn: &mut DbConnection, id: RoomId) -> QueryResult<bool> {
    diesel::delete(rooms::table.find(id.0))
        .execute(conn)
        .map(|n| n > 0)
}
