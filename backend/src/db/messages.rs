//! The `messages` table: history pages, catch-up and idempotent inserts.

use super::DbConnection;
use super::schema::{messages, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_shared::{Message, MessageId, MessageKind, RoomId, UserId};

/// A message row joined with its author's name: what every read returns.
#[derive(Debug, Clone, Queryable)]
pub struct MessageRow {
    pub id: i64,
    pub room_id: i64,
    pub author: String,
    pub kind: String,
    pub body: String,
    pub client_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub edited_at: Option<NaiveDateTime>,
    pub reply_to: Option<i64>,
    pub reaction_count: i32,
    pub mentions: Option<String>,
    pub mentions_room: bool,
    pub file_count: i32,
}

impl From<MessageRow> for Message {
    /// The message without what it answers: see [`with_replies`].
    fn from(row: MessageRow) -> Self {
        Message {
            id: MessageId(row.id),
            room_id: RoomId(row.room_id),
            author: row.author,
            kind: kind_from_db(&row.kind),
            body: row.body,
            created_at: row.created_at.and_utc(),
            client_id: row.client_id,
            edited_at: row.edited_at.map(|at| at.and_utc()),
            reply_to: None,
            reactions: Vec::new(),
            mentions: ids_from_db(row.mentions.as_deref()),
            mentions_room: row.mentions_room,
            attachments: Vec::new(),
        }
    }
}

/// The mentioned user ids as a message row keeps them: comma-separated, `None` for none.
pub fn ids_to_db(ids: &[UserId]) -> Option<String> {
    (!ids.is_empty()).then(|| {
        ids.iter()
            .map(|id| id.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn ids_from_db(stored: Option<&str>) -> Vec<UserId> {
    stored
        .unwrap_or_default()
        .split(',')
        .filter_map(|id| id.parse().ok().map(UserId))
        .collect()
}

/// Whom `author`'s `body` mentions among the other members of `room`: the ids of those
/// named (a name that is no member's stays plain text), and whether it mentions the whole
/// room. No query for a message that names nobody.
pub fn resolve_mentions(
    conn: &mut DbConnection,
    room: RoomId,
    author: UserId,
    body: &str,
) -> QueryResult<(Vec<UserId>, bool)> {
    use super::schema::room_members;
    let found = natter_shared::mentions::in_body(body);
    let keys: Vec<String> = found
        .names
        .into_iter()
        .filter_map(|name| natter_shared::Username::parse(name).ok())
        .map(|name| name.key())
        .collect();
    if keys.is_empty() {
        return Ok((Vec::new(), found.room));
    }
    let mut ids: Vec<i64> = room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq(room.0))
        .filter(users::username_key.eq_any(&keys))
        .filter(users::id.ne(author.0))
        .select(users::id)
        .load(conn)?;
    ids.sort_unstable();
    Ok((ids.into_iter().map(UserId).collect(), found.room))
}

/// Records whom message `id` of `room` mentions by name (replacing what it recorded before),
/// so that they can count their unread mentions.
pub fn set_mentions(
    conn: &mut DbConnection,
    id: MessageId,
    room: RoomId,
    ids: &[UserId],
) -> QueryResult<()> {
    use super::schema::mentions;
    diesel::delete(mentions::table.filter(mentions::message_id.eq(id.0))).execute(conn)?;
    add_mentions(conn, id, room, ids)
}

/// Records whom the new message `id` of `room` mentions by name.
pub fn add_mentions(
    conn: &mut DbConnection,
    id: MessageId,
    room: RoomId,
    ids: &[UserId],
) -> QueryResult<()> {
    use super::schema::mentions;
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = ids
        .iter()
        .map(|user| {
            (
                mentions::message_id.eq(id.0),
                mentions::user_id.eq(user.0),
                mentions::room_id.eq(room.0),
            )
        })
        .collect();
    crate::each_backend!(conn, |c| diesel::insert_into(mentions::table)
        .values(&rows)
        .execute(c))
    .map(drop)
}

/// Messages from rows, each reply with what it answers, each with its reactions and its
/// files: one more query for the replies of the whole lot, one for its reactions and one for
/// its files, each only when some row has any.
pub fn with_replies(conn: &mut DbConnection, rows: Vec<MessageRow>) -> QueryResult<Vec<Message>> {
    let wanted: Vec<i64> = rows.iter().filter_map(|r| r.reply_to).collect();
    let originals = if wanted.is_empty() {
        std::collections::HashMap::new()
    } else {
        replied(conn, &wanted)?
    };
    let reacted: Vec<i64> = rows
        .iter()
        .filter(|r| r.reaction_count > 0)
        .map(|r| r.id)
        .collect();
    let mut reactions = if reacted.is_empty() {
        std::collections::HashMap::new()
    } else {
        reactions_of(conn, &reacted)?
    };
    let with_files: Vec<i64> = rows
        .iter()
        .filter(|r| r.file_count > 0)
        .map(|r| r.id)
        .collect();
    let mut files = if with_files.is_empty() {
        std::collections::HashMap::new()
    } else {
        super::uploads::of_messages(conn, &with_files)?
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let reply = row.reply_to.and_then(|id| originals.get(&id).cloned());
            let mine = reactions.remove(&row.id).unwrap_or_default();
            let mut message = Message::from(row);
            message.reply_to = reply;
            message.reactions = mine;
            message.attachments = files.remove(&message.id.0).unwrap_or_default();
            message
        })
        .collect())
}

/// The reactions of the messages `ids`, each message's by emoji in the order first used.
fn reactions_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, Vec<natter_shared::Reaction>>> {
    use super::schema::reactions;
    let rows: Vec<(i64, String, String)> = reactions::table
        .inner_join(users::table)
        .filter(reactions::message_id.eq_any(ids))
        .order((reactions::message_id, reactions::created_at, users::id))
        .select((reactions::message_id, reactions::emoji, users::username))
        .load(conn)?;
    let mut out: std::collections::HashMap<i64, Vec<natter_shared::Reaction>> =
        std::collections::HashMap::new();
    for (message, emoji, user) in rows {
        let list = out.entry(message).or_default();
        let reaction = match list.iter().position(|r| r.emoji == emoji) {
            Some(at) => &mut list[at],
            None => {
                list.push(natter_shared::Reaction {
                    emoji,
                    count: 0,
                    users: Vec::new(),
                });
                let last = list.len() - 1;
                &mut list[last]
            }
        };
        reaction.count += 1;
        if reaction.users.len() < natter_shared::REACTION_USERS_SHOWN {
            reaction.users.push(user);
        }
    }
    Ok(out)
}

/// What adding a reaction came to.
pub enum Reacted {
    Added,
    /// It was there already: nothing changed.
    Already,
    /// The message has as many different emoji as it may.
    Full,
}

/// Adds `user`'s `emoji` to message `id`, unless it is there, or the message has its fill of
/// different emoji.
pub fn add_reaction(
    conn: &mut DbConnection,
    id: MessageId,
    user: natter_shared::UserId,
    emoji: &str,
    now: NaiveDateTime,
) -> QueryResult<Reacted> {
    use super::schema::reactions;
    super::write_transaction(conn, |conn| {
        let exists: bool = diesel::select(diesel::dsl::exists(
            reactions::table
                .filter(reactions::message_id.eq(id.0))
                .filter(reactions::user_id.eq(user.0))
                .filter(reactions::emoji.eq(emoji)),
        ))
        .get_result(conn)?;
        if exists {
            return Ok(Reacted::Already);
        }
        let kinds: Vec<String> = reactions::table
            .filter(reactions::message_id.eq(id.0))
            .select(reactions::emoji)
            .distinct()
            .load(conn)?;
        if !kinds.iter().any(|k| k == emoji)
            && kinds.len() >= natter_shared::MAX_REACTIONS_PER_MESSAGE
        {
            return Ok(Reacted::Full);
        }
        diesel::insert_into(reactions::table)
            .values((
                reactions::message_id.eq(id.0),
                reactions::user_id.eq(user.0),
                reactions::emoji.eq(emoji),
                reactions::created_at.eq(now),
            ))
            .execute(conn)?;
        diesel::update(messages::table.find(id.0))
            .set(messages::reaction_count.eq(messages::reaction_count + 1))
            .execute(conn)?;
        Ok(Reacted::Added)
    })
}

/// Takes back `user`'s `emoji` from message `id`; whether there was one.
pub fn remove_reaction(
    conn: &mut DbConnection,
    id: MessageId,
    user: natter_shared::UserId,
    emoji: &str,
) -> QueryResult<bool> {
    use super::schema::reactions;
    super::write_transaction(conn, |conn| {
        let gone = diesel::delete(
            reactions::table
                .filter(reactions::message_id.eq(id.0))
                .filter(reactions::user_id.eq(user.0))
                .filter(reactions::emoji.eq(emoji)),
        )
        .execute(conn)?;
        if gone > 0 {
            diesel::update(messages::table.find(id.0))
                .set(messages::reaction_count.eq(messages::reaction_count - 1))
                .execute(conn)?;
        }
        Ok(gone > 0)
    })
}

/// What replies show of the messages `ids`.
fn replied(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<std::collections::HashMap<i64, natter_shared::ReplyTo>> {
    let rows: Vec<(i64, String, String, Option<NaiveDateTime>)> = messages::table
        .inner_join(users::table)
        .filter(messages::id.eq_any(ids))
        .select((
            messages::id,
            users::username,
            messages::body,
            messages::deleted_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, author, body, deleted_at)| {
            let deleted = deleted_at.is_some();
            let excerpt = if deleted {
                String::new()
            } else {
                body.chars()
                    .take(natter_shared::REPLY_EXCERPT_CHARS)
                    .collect()
            };
            let reply = natter_shared::ReplyTo {
                id: MessageId(id),
                author,
                excerpt,
                deleted,
            };
            (id, reply)
        })
        .collect())
}

/// What a reply to `id` in `room` shows, if `id` is a message of that room.
pub fn reply_to(
    conn: &mut DbConnection,
    room: RoomId,
    id: MessageId,
) -> QueryResult<Option<natter_shared::ReplyTo>> {
    let in_room: Option<i64> = messages::table
        .find(id.0)
        .filter(messages::room_id.eq(room.0))
        .select(messages::id)
        .first(conn)
        .optional()?;
    match in_room {
        Some(found) => Ok(replied(conn, &[found])?.remove(&found)),
        None => Ok(None),
    }
}

pub fn kind_to_db(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::User => "user",
        MessageKind::Bot => "bot",
        MessageKind::System => "system",
    }
}

fn kind_from_db(kind: &str) -> MessageKind {
    match kind {
        "bot" => MessageKind::Bot,
        "system" => MessageKind::System,
        _ => MessageKind::User,
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessageRow<'a> {
    pub room_id: i64,
    pub author_id: i64,
    pub kind: &'a str,
    pub body: &'a str,
    pub client_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub reply_to: Option<i64>,
    pub mentions: Option<String>,
    pub mentions_room: bool,
}

macro_rules! joined_select {
    () => {
        (
            messages::id,
            messages::room_id,
            users::username,
            messages::kind,
            messages::body,
            messages::client_id,
            messages::created_at,
            messages::edited_at,
            messages::reply_to,
            messages::reaction_count,
            messages::mentions,
            messages::mentions_room,
            messages::file_count,
        )
    };
}

/// The newest `limit` messages of a room with ids below `before`, oldest first, with author
/// names from the same query.
pub fn page(
    conn: &mut DbConnection,
    room: RoomId,
    before: Option<MessageId>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    // One fixed query (no `before` is "below the largest id"), so that diesel keeps it
    // prepared: the hottest read is not parsed again on every request.
    let before = before.map_or(i64::MAX, |b| b.0);
    let mut rows: Vec<MessageRow> = messages::table
        .inner_join(users::table)
        .filter(messages::room_id.eq(room.0))
        .filter(messages::deleted_at.is_null())
        .filter(messages::id.lt(before))
        .order(messages::id.desc())
        .limit(limit)
        .select(joined_select!())
        .load(conn)?;
    rows.reverse();
    with_replies(conn, rows)
}

/// The messages `ids`, in that order (an id that names no message is left out).
pub fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<MessageRow> = messages::table
        .inner_join(users::table)
        .filter(messages::id.eq_any(ids))
        .select(joined_select!())
        .load(conn)?;
    let mut found: std::collections::HashMap<i64, Message> = with_replies(conn, rows)?
        .into_iter()
        .map(|m| (m.id.0, m))
        .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The page of `limit` messages of `room` centred on message `id`, oldest first: up to half
/// of it after the message, the rest the message itself and those before it; where one side
/// runs out the other fills the page. `None` if `id` is not a message of the room (a deleted
/// one is: its neighbours are shown, without it).
pub fn around(
    conn: &mut DbConnection,
    room: RoomId,
    id: MessageId,
    limit: i64,
) -> QueryResult<Option<Vec<Message>>> {
    let known: bool = diesel::select(diesel::dsl::exists(
        messages::table
            .filter(messages::id.eq(id.0))
            .filter(messages::room_id.eq(room.0)),
    ))
    .get_result(conn)?;
    if !known {
        return Ok(None);
    }
    let mut newer = after(conn, Some(room), id, None, limit / 2)?;
    let wanted = limit - newer.len() as i64;
    let mut page = self::page(conn, room, Some(MessageId(id.0 + 1)), wanted)?;
    // At the start of the room: the newer side takes what the older could not.
    let short = wanted - page.len() as i64;
    if short > 0 && newer.len() as i64 == limit / 2 {
        let from = newer.last().map_or(id, |m| m.id);
        newer.extend(after(conn, Some(room), from, None, short)?);
    }
    page.extend(newer);
    Ok(Some(page))
}

/// Up to `limit` messages with ids above `after` (and below `before`), oldest first: of one
/// room for catch-up, or of every room for what other processes on the database stored.
pub fn after(
    conn: &mut DbConnection,
    room: Option<RoomId>,
    after: MessageId,
    before: Option<MessageId>,
    limit: i64,
) -> QueryResult<Vec<Message>> {
    let mut q = messages::table
        .inner_join(users::table)
        .filter(messages::id.gt(after.0))
        .filter(messages::deleted_at.is_null())
        .into_boxed();
    if let Some(room) = room {
        q = q.filter(messages::room_id.eq(room.0));
    }
    if let Some(before) = before {
        q = q.filter(messages::id.lt(before.0));
    }
    let rows: Vec<MessageRow> = q
        .order(messages::id.asc())
        .limit(limit)
        .select(joined_select!())
        .load(conn)?;
    with_replies(conn, rows)
}

/// The highest message id so far (0 when there is none).
pub fn max_id(conn: &mut DbConnection) -> QueryResult<i64> {
    messages::table
        .select(diesel::dsl::max(messages::id))
        .first::<Option<i64>>(conn)
        .map(Option::unwrap_or_default)
}

/// Inserts a message unless its author already stored one with the same client id.
/// Returns the new row's id, or `None` when the client id was taken.
pub fn insert_new(conn: &mut DbConnection, new: &NewMessageRow<'_>) -> QueryResult<Option<i64>> {
    crate::each_backend!(conn, |c| diesel::insert_into(messages::table)
        .values(new)
        .on_conflict((messages::author_id, messages::client_id))
        .do_nothing()
        .returning(messages::id)
        .get_result(c)
        .optional())
}

/// The message its author stored under `client_id`.
pub fn find_by_client_id(
    conn: &mut DbConnection,
    author_id: i64,
    client_id: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .inner_join(users::table)
        .filter(messages::author_id.eq(author_id))
        .filter(messages::client_id.eq(client_id))
        .select(joined_select!())
        .first::<MessageRow>(conn)
        .optional()?
        .map(|row| with_replies(conn, vec![row]).map(|mut v| v.remove(0)))
        .transpose()
}

/// The author and kind of a live (not deleted) message of `room`.
pub fn author_of(
    conn: &mut DbConnection,
    room: RoomId,
    id: MessageId,
) -> QueryResult<Option<(i64, String)>> {
    messages::table
        .find(id.0)
        .filter(messages::room_id.eq(room.0))
        .filter(messages::deleted_at.is_null())
        .select((messages::author_id, messages::kind))
        .first(conn)
        .optional()
}

/// Replaces a message's text and marks it edited; the message as it is now.
pub fn edit(
    conn: &mut DbConnection,
    room: RoomId,
    author: UserId,
    id: MessageId,
    body: &str,
    at: NaiveDateTime,
) -> QueryResult<Message> {
    // Whom it mentions is found again: a mention added by an edit counts, one taken out
    // does not.
    super::write_transaction(conn, |conn| {
        let (mentioned, everyone) = resolve_mentions(conn, room, author, body)?;
        diesel::update(messages::table.find(id.0))
            .set((
                messages::body.eq(body),
                messages::edited_at.eq(at),
                messages::mentions.eq(ids_to_db(&mentioned)),
                messages::mentions_room.eq(everyone),
            ))
            .execute(conn)?;
        set_mentions(conn, id, room, &mentioned)?;
        let row = messages::table
            .inner_join(users::table)
            .filter(messages::id.eq(id.0))
            .select(joined_select!())
            .first::<MessageRow>(conn)?;
        with_replies(conn, vec![row]).map(|mut v| v.remove(0))
    })
}

/// Deletes a message: the row stays (its ids stay taken), its text goes.
/// Its mentions go too, so that nobody counts them, and its files: returns their digests,
/// for [`crate::files::Files::release`] once this is committed.
pub fn delete(
    conn: &mut DbConnection,
    id: MessageId,
    at: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    use super::schema::mentions;
    super::write_transaction(conn, |conn| {
        diesel::update(messages::table.find(id.0))
            .set((
                messages::body.eq(""),
                messages::deleted_at.eq(at),
                messages::mentions.eq(None::<String>),
                messages::mentions_room.eq(false),
            ))
            .execute(conn)?;
        diesel::delete(mentions::table.filter(mentions::message_id.eq(id.0))).execute(conn)?;
        super::uploads::detach_message(conn, id)
    })
}
