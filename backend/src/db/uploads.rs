//! The `uploads` table: files, whose they are, and which message carries them.

use super::DbConnection;
use super::schema::{messages, uploads, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_shared::{Attachment, MessageId, RoomId, UploadId, UserId};
use std::collections::HashMap;

/// An upload as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = uploads)]
pub struct UploadRow {
    pub id: i64,
    pub user_id: i64,
    pub message_id: Option<i64>,
    pub sha256: String,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_type: Option<String>,
}

impl UploadRow {
    /// As messages carry it, with the addresses that serve it.
    pub fn to_api(&self) -> Attachment {
        let id = UploadId(self.id);
        Attachment {
            id,
            name: self.name.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            width: self.width.and_then(|w| u32::try_from(w).ok()),
            height: self.height.and_then(|h| u32::try_from(h).ok()),
            url: format!("/api/uploads/{id}"),
            thumb_url: self
                .thumb_type
                .is_some()
                .then(|| format!("/api/uploads/{id}/thumb")),
        }
    }
}

/// A new upload's row.
#[derive(Debug, Insertable)]
#[diesel(table_name = uploads)]
pub struct NewUpload<'a> {
    pub user_id: i64,
    pub sha256: &'a str,
    pub name: &'a str,
    pub size: i64,
    pub content_type: &'a str,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumb_type: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

/// `SUM(size)` as a 64-bit integer on both engines (Postgres sums `BIGINT` to `NUMERIC`).
fn total_size()
-> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::BigInt>> {
    diesel::dsl::sql("CAST(SUM(uploads.size) AS BIGINT)")
}

/// The bytes `user`'s uploads take, counted for their quota (each upload in full, even
/// when the same bytes are stored once).
pub fn used_by(conn: &mut DbConnection, user: UserId) -> QueryResult<i64> {
    let sum: Option<i64> = uploads::table
        .filter(uploads::user_id.eq(user.0))
        .select(total_size())
        .first(conn)?;
    Ok(sum.unwrap_or(0))
}

/// Stores a new upload unless it takes `user` past `quota` bytes (0: no quota), with the
/// job that removes it at `expires_at` if no message has taken it by then. `None` when it
/// would pass the quota.
pub fn insert(
    conn: &mut DbConnection,
    new: &NewUpload<'_>,
    quota: u64,
    expires_at: NaiveDateTime,
) -> QueryResult<Option<UploadRow>> {
    super::write_transaction(conn, |conn| {
        if quota > 0 {
            let used = used_by(conn, UserId(new.user_id))?;
            if u64::try_from(used + new.size).unwrap_or(u64::MAX) > quota {
                return Ok(None);
            }
        }
        let row = crate::each_backend!(conn, |c| diesel::insert_into(uploads::table)
            .values(new)
            .returning(UploadRow::as_returning())
            .get_result(c))?;
        let payload =
            serde_json::to_string(&super::jobs::UnsentUploadPayload { upload_id: row.id })
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        super::jobs::enqueue_at(
            conn,
            super::jobs::UNSENT_UPLOAD,
            &payload,
            5,
            new.created_at,
            expires_at,
        )?;
        Ok(Some(row))
    })
}

/// The upload `id` with the room of the message that carries it (none before it is sent).
pub fn find_with_room(
    conn: &mut DbConnection,
    id: UploadId,
) -> QueryResult<Option<(UploadRow, Option<i64>)>> {
    uploads::table
        .left_join(messages::table)
        .filter(uploads::id.eq(id.0))
        .select((UploadRow::as_select(), messages::room_id.nullable()))
        .first(conn)
        .optional()
}

/// `user`'s uploads `ids` that no message carries yet, in id order; an error names the first
/// that is not.
pub fn pending(
    conn: &mut DbConnection,
    user: UserId,
    ids: &[UploadId],
) -> QueryResult<Result<Vec<Attachment>, UploadId>> {
    let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<UploadRow> = uploads::table
        .filter(uploads::id.eq_any(&raw))
        .filter(uploads::user_id.eq(user.0))
        .filter(uploads::message_id.is_null())
        .order(uploads::id)
        .select(UploadRow::as_select())
        .load(conn)?;
    if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|r| r.id == id.0)) {
        return Ok(Err(*missing));
    }
    Ok(Ok(rows.iter().map(UploadRow::to_api).collect()))
}

/// Gives `user`'s uploads `ids` to message `message`, in the message's own transaction;
/// false (and nothing changed) if any of them is taken by now.
pub fn attach(
    conn: &mut DbConnection,
    user: UserId,
    message: MessageId,
    ids: &[UploadId],
) -> QueryResult<bool> {
    let raw: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let taken = diesel::update(
        uploads::table
            .filter(uploads::id.eq_any(&raw))
            .filter(uploads::user_id.eq(user.0))
            .filter(uploads::message_id.is_null()),
    )
    .set(uploads::message_id.eq(message.0))
    .execute(conn)?;
    if taken != ids.len() {
        return Ok(false);
    }
    diesel::update(messages::table.find(message.0))
        .set(messages::file_count.eq(i32::try_from(ids.len()).unwrap_or(i32::MAX)))
        .execute(conn)?;
    Ok(true)
}

/// The attachments of the messages `ids`, by message, each message's in upload order.
pub fn of_messages(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<HashMap<i64, Vec<Attachment>>> {
    let rows: Vec<UploadRow> = uploads::table
        .filter(uploads::message_id.eq_any(ids))
        .order((uploads::message_id, uploads::id))
        .select(UploadRow::as_select())
        .load(conn)?;
    let mut out: HashMap<i64, Vec<Attachment>> = HashMap::new();
    for row in rows {
        if let Some(message) = row.message_id {
            out.entry(message).or_default().push(row.to_api());
        }
    }
    Ok(out)
}

/// Forgets the uploads of message `id` (it was deleted); returns the digests they named,
/// for [`unused`] once committed.
pub fn detach_message(conn: &mut DbConnection, id: MessageId) -> QueryResult<Vec<String>> {
    let shas: Vec<String> = uploads::table
        .filter(uploads::message_id.eq(id.0))
        .select(uploads::sha256)
        .load(conn)?;
    if !shas.is_empty() {
        diesel::delete(uploads::table.filter(uploads::message_id.eq(id.0))).execute(conn)?;
        diesel::update(messages::table.find(id.0))
            .set(messages::file_count.eq(0))
            .execute(conn)?;
    }
    Ok(shas)
}

/// Forgets upload `id` if no message carries it yet (it was never sent); its digest.
pub fn forget_unsent(conn: &mut DbConnection, id: UploadId) -> QueryResult<Option<String>> {
    let row: Option<String> = uploads::table
        .find(id.0)
        .filter(uploads::message_id.is_null())
        .select(uploads::sha256)
        .first(conn)
        .optional()?;
    if row.is_some() {
        diesel::delete(
            uploads::table
                .find(id.0)
                .filter(uploads::message_id.is_null()),
        )
        .execute(conn)?;
    }
    Ok(row)
}

/// Of `shas`, those that no upload and no avatar names any more: their files may go.
pub fn unused(conn: &mut DbConnection, shas: &[String]) -> QueryResult<Vec<String>> {
    if shas.is_empty() {
        return Ok(Vec::new());
    }
    let mut named: Vec<String> = uploads::table
        .filter(uploads::sha256.eq_any(shas))
        .select(uploads::sha256)
        .distinct()
        .load(conn)?;
    let avatars: Vec<Option<String>> = users::table
        .filter(users::avatar.eq_any(shas))
        .select(users::avatar)
        .load(conn)?;
    named.extend(avatars.into_iter().flatten());
    let mut free: Vec<String> = shas
        .iter()
        .filter(|sha| !named.contains(sha))
        .cloned()
        .collect();
    free.sort_unstable();
    free.dedup();
    Ok(free)
}

/// How many uploads there are and the bytes they hold, for `/metrics`.
pub fn totals(conn: &mut DbConnection) -> QueryResult<(i64, i64)> {
    let count: i64 = uploads::table.count().get_result(conn)?;
    let bytes: Option<i64> = uploads::table.select(total_size()).first(conn)?;
    Ok((count, bytes.unwrap_or(0)))
}

/// The digests of the files that the messages of `room` carry.
pub fn of_room(conn: &mut DbConnection, room: RoomId) -> QueryResult<Vec<String>> {
    uploads::table
        .inner_join(messages::table)
        .filter(messages::room_id.eq(room.0))
        .select(uploads::sha256)
        .load(conn)
}

/// Sets `user`'s avatar to the stored picture `sha256` (or none); the one it replaces.
pub fn set_avatar(
    conn: &mut DbConnection,
    user: UserId,
    sha256: Option<&str>,
) -> QueryResult<Option<String>> {
    super::write_transaction(conn, |conn| {
        let old: Option<String> = users::table
            .find(user.0)
            .select(users::avatar)
            .first(conn)?;
        diesel::update(users::table.find(user.0))
            .set(users::avatar.eq(sha256))
            .execute(conn)?;
        Ok(old)
    })
}

/// The stored picture of the active user named `key` (a username key), if they have one.
pub fn avatar_of(conn: &mut DbConnection, key: &str) -> QueryResult<Option<String>> {
    Ok(users::table
        .filter(users::username_key.eq(key))
        .filter(users::is_active.eq(true))
        .select(users::avatar)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}
