//! Full-text search: SQLite's FTS5 index `messages_fts` or Postgres's `messages.search`
//! column (both made by the search migration and kept in step by its triggers), and the
//! indexing of the messages that were stored before that migration.

use super::DbConnection;
use crate::search::Query;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use natter_shared::{RoomId, UserId};
use std::time::{Duration, Instant};

/// What narrows a search besides its words.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub room: Option<RoomId>,
    pub author: Option<UserId>,
    /// Only messages sent before this instant.
    pub before: Option<NaiveDateTime>,
    /// Only messages sent at or after this instant.
    pub after: Option<NaiveDateTime>,
}

/// The order of results, and where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Newest first, from the message below this id.
    Recent { below: i64 },
    /// Best match first (bm25 on SQLite, `ts_rank` on Postgres), skipping this many.
    Relevance { skip: i64 },
}

/// The conditions both engines share: not deleted, the filters. `?4` to `?7` are the room,
/// author, before and after.
const FILTERS: &str = "m.deleted_at IS NULL
   AND (?4 IS NULL OR m.room_id = ?4)
   AND (?5 IS NULL OR m.author_id = ?5)
   AND (?6 IS NULL OR m.created_at < ?6)
   AND (?7 IS NULL OR m.created_at >= ?7)";

/// In the caller's rooms (`?3`), on SQLite.
const MEMBER_SQLITE: &str = "m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?3)";

/// In the caller's rooms (`?3`), on Postgres: a list read once. As a semi-join
/// (`IN (SELECT ...)`) the planner misjudges how many rows pass and, for words in a few
/// thousand messages of a million, reads every match and sorts them (4 to 8 ms) where
/// reading newest first stops after a page (about 1 ms).
const MEMBER_PG: &str =
    "m.room_id = ANY(ARRAY(SELECT room_id FROM room_members WHERE user_id = ?3))";

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of up to `limit` messages in rooms `user` is a member of that match `query`, in
/// `order`. On SQLite the FTS5 index is read in rowid order (newest first) and stops at the
/// limit; on Postgres the GIN index or the primary key, as the planner judges the words.
pub fn find(
    conn: &mut DbConnection,
    user: UserId,
    query: &Query,
    filters: &Filters,
    order: Order,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    // `?1` is the query, `?2` the cursor, `?8` the limit.
    let sql = match (&*conn, order) {
        (DbConnection::Sqlite(_), Order::Recent { .. }) => format!(
            "SELECT m.id AS id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
              WHERE messages_fts MATCH ?1 AND messages_fts.rowid < ?2
                AND {MEMBER_SQLITE} AND {FILTERS}
              ORDER BY messages_fts.rowid DESC LIMIT ?8"
        ),
        (DbConnection::Sqlite(_), Order::Relevance { .. }) => format!(
            "SELECT m.id AS id FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
              WHERE messages_fts MATCH ?1 AND {MEMBER_SQLITE} AND {FILTERS}
              ORDER BY messages_fts.rank, m.id DESC LIMIT ?8 OFFSET ?2"
        ),
        (DbConnection::Postgres(_), Order::Recent { .. }) => format!(
            "SELECT m.id AS id FROM messages m
              WHERE m.search @@ to_tsquery('natter_search', ?1) AND m.id < ?2
                AND {MEMBER_PG} AND {FILTERS}
              ORDER BY m.id DESC LIMIT ?8"
        )
        .replace('?', "$"),
        (DbConnection::Postgres(_), Order::Relevance { .. }) => format!(
            "SELECT m.id AS id FROM messages m
              WHERE m.search @@ to_tsquery('natter_search', ?1) AND {MEMBER_PG} AND {FILTERS}
              ORDER BY ts_rank(m.search, to_tsquery('natter_search', ?1)) DESC, m.id DESC
              LIMIT ?8 OFFSET ?2"
        )
        .replace('?', "$"),
    };
    let text = match conn {
        DbConnection::Sqlite(_) => query.fts5(),
        DbConnection::Postgres(_) => query.tsquery(),
    };
    let cursor = match order {
        Order::Recent { below } => below,
        Order::Relevance { skip } => skip,
    };
    let found: Vec<Found> = crate::each_backend!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(&text)
        .bind::<BigInt, _>(cursor)
        .bind::<BigInt, _>(user.0)
        .bind::<Nullable<BigInt>, _>(filters.room.map(|r| r.0))
        .bind::<Nullable<BigInt>, _>(filters.author.map(|a| a.0))
        .bind::<Nullable<Timestamp>, _>(filters.before)
        .bind::<Nullable<Timestamp>, _>(filters.after)
        .bind::<BigInt, _>(limit)
        .load(c))?;
    Ok(found.into_iter().map(|f| f.id).collect())
}

/// Adds the messages with ids `first` to `last` to SQLite's FTS5 index (the message writer,
/// for what its transaction stored; the insert trigger of Postgres does this there).
pub fn index_range(conn: &mut DbConnection, first: i64, last: i64) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages
          WHERE id >= ?1 AND id <= ?2 AND deleted_at IS NULL",
    )
    .bind::<BigInt, _>(first)
    .bind::<BigInt, _>(last)
    .execute(conn)
    .map(drop)
}

/// How many messages one transaction of the backfill indexes.
const CHUNK: i64 = 20_000;
/// How often the backfill logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Indexes the messages that were stored before the search migration, newest first (so the
/// most searched-for part is ready first, and an interrupted run resumes where it stopped),
/// one chunk per transaction, logging progress. Nothing to do, and one query, once done.
pub fn backfill(conn: &mut DbConnection) -> QueryResult<()> {
    use super::schema::{messages, search_backfill};
    let Some(mut up_to) = search_backfill::table
        .select(search_backfill::up_to)
        .first::<i64>(conn)
        .optional()?
        .filter(|&up_to| up_to > 0)
    else {
        return Ok(());
    };
    let total: i64 = messages::table
        .filter(messages::id.le(up_to))
        .count()
        .get_result(conn)?;
    tracing::info!(
        messages = total,
        "indexing the messages stored before search existed; the server starts when this is done"
    );
    let started = Instant::now();
    let mut logged = started;
    let mut done = 0i64;
    while up_to > 0 {
        let from = (up_to - CHUNK).max(0);
        let sql = match conn {
            DbConnection::Sqlite(_) => {
                "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages
                  WHERE id > ?1 AND id <= ?2 AND deleted_at IS NULL"
            }
            DbConnection::Postgres(_) => {
                "UPDATE messages SET search = natter_search_vector(body)
                  WHERE id > $1 AND id <= $2 AND deleted_at IS NULL"
            }
        };
        done += conn.transaction(|conn| {
            let n = crate::each_backend!(conn, |c| diesel::sql_query(sql)
                .bind::<BigInt, _>(from)
                .bind::<BigInt, _>(up_to)
                .execute(c))?;
            diesel::update(search_backfill::table)
                .set(search_backfill::up_to.eq(from))
                .execute(conn)?;
            QueryResult::Ok(n as i64)
        })?;
        up_to = from;
        if logged.elapsed() >= PROGRESS_EVERY {
            logged = Instant::now();
            tracing::info!(
                indexed = done,
                of = total,
                percent = done * 100 / total.max(1),
                "indexing messages for search"
            );
        }
    }
    // The planner chooses between the GIN index and reading newest first by how common the
    // words are: tell it, now that every row has its words (autovacuum may be off).
    if let DbConnection::Postgres(_) = conn {
        diesel::sql_query("ANALYZE messages").execute(conn)?;
    }
    tracing::info!(
        messages = done,
        seconds = started.elapsed().as_secs_f32(),
        "search index ready"
    );
    Ok(())
}
