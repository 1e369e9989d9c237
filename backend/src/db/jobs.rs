//! The `jobs` and `sms_outbox` tables: durable background work, claimed with a lease.

use super::DbConnection;
use super::schema::{jobs, sms_outbox, sms_requests};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use serde::{Deserialize, Serialize};

/// The kind of the `/sms` job.
pub const SMS: &str = "sms";

/// What an `/sms` job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsPayload {
    /// The room the result is reported in.
    pub room_id: i64,
    pub to_user_id: i64,
    pub to_username: String,
    pub requested_by: String,
}

/// The kind of the job that sends a phone verification code.
pub const PHONE_CODE: &str = "phone_code";

/// The kind of the job that removes an upload no message took, a day after it came.
pub const UNSENT_UPLOAD: &str = "unsent_upload";

/// What an unsent upload job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsentUploadPayload {
    pub upload_id: i64,
}

/// What a phone code job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneCodePayload {
    pub user_id: i64,
    pub username: String,
    pub phone: String,
    pub code: String,
}

/// A job a worker holds.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedJob {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Integer)]
    pub max_attempts: i32,
}

/// A job as stored, for operators and tests.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

pub fn enqueue(
    conn: &mut DbConnection,
    kind: &str,
    payload: &str,
    max_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    enqueue_at(conn, kind, payload, max_attempts, now, now)
}

/// Queues a job that is due at `run_at`, not before.
pub fn enqueue_at(
    conn: &mut DbConnection,
    kind: &str,
    payload: &str,
    max_attempts: i32,
    now: NaiveDateTime,
    run_at: NaiveDateTime,
) -> QueryResult<i64> {
    diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(kind),
            jobs::payload.eq(payload),
            jobs::state.eq("queued"),
            jobs::max_attempts.eq(max_attempts),
            jobs::run_at.eq(run_at),
            jobs::created_at.eq(now),
            jobs::updated_at.eq(now),
        ))
        .returning(jobs::id)
        .get_result(conn)
}

/// Takes the next due job for `worker` until `lease_until`: a queued job whose time has come,
/// or a running one whose lease has run out (its worker died). One statement, so two workers
/// never take the same job; on Postgres the row is picked `FOR UPDATE SKIP LOCKED`, so that
/// workers on many nodes pass each other's claims by instead of queueing behind them. (SQLite
/// has one writer at a time, which does the same.) Counts the attempt.
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<ClaimedJob>> {
    let sql = match conn {
        DbConnection::Postgres(_) => CLAIM_POSTGRES,
        DbConnection::Sqlite(_) => CLAIM_SQLITE,
    };
    diesel::sql_query(sql)
        .bind::<Text, _>(worker)
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .get_result(conn)
        .optional()
}

const CLAIM_SQLITE: &str = "UPDATE jobs
        SET state = 'running', attempts = attempts + 1,
            locked_by = ?1, locked_until = ?2, updated_at = ?3
      WHERE id = (SELECT id FROM jobs
                   WHERE (state = 'queued' AND run_at <= ?3)
                      OR (state = 'running' AND locked_until < ?3)
                   ORDER BY run_at, id
                   LIMIT 1)
  RETURNING id, kind, payload, attempts, max_attempts";

const CLAIM_POSTGRES: &str = "UPDATE jobs
        SET state = 'running', attempts = attempts + 1,
            locked_by = $1, locked_until = $2, updated_at = $3
      WHERE id = (SELECT id FROM jobs
                   WHERE (state = 'queued' AND run_at <= $3)
                      OR (state = 'running' AND locked_until < $3)
                   ORDER BY run_at, id
                   LIMIT 1
                   FOR UPDATE SKIP LOCKED)
  RETURNING id, kind, payload, attempts, max_attempts";

/// The job `id`, if `worker` still holds it.
macro_rules! held_by {
    ($id:expr, $worker:expr) => {
        jobs::table
            .filter(jobs::id.eq($id))
            .filter(jobs::state.eq("running"))
            .filter(jobs::locked_by.eq($worker))
    };
}

/// Marks the job done, if `worker` still holds it. False when its lease was lost.
pub fn complete(
    conn: &mut DbConnection,
    id: i64,
    worker: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(held_by!(id, worker))
        .set((
            jobs::state.eq("done"),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Puts the job back in the queue until `run_at`, or marks it failed when `run_at` is `None`.
pub fn fail(
    conn: &mut DbConnection,
    id: i64,
    worker: &str,
    error: &str,
    run_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let state = if run_at.is_some() { "queued" } else { "failed" };
    diesel::update(held_by!(id, worker))
        .set((
            jobs::state.eq(state),
            jobs::run_at.eq(run_at.unwrap_or(now)),
            jobs::last_error.eq(error),
            jobs::locked_by.eq(None::<String>),
            jobs::locked_until.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .order(jobs::id)
        .select(JobRow::as_select())
        .load(conn)
}

/// Records what the `log` provider sent; a job is recorded once however often it runs.
pub fn record_sms(
    conn: &mut DbConnection,
    job_id: i64,
    phone: &str,
    body: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    crate::each_backend!(conn, |c| diesel::insert_into(sms_outbox::table)
        .values((
            sms_outbox::job_id.eq(job_id),
            sms_outbox::phone.eq(phone),
            sms_outbox::body.eq(body),
            sms_outbox::sent_at.eq(now),
        ))
        .on_conflict(sms_outbox::job_id)
        .do_nothing()
        .execute(c)
        .map(|n| n == 1))
}

/// Every recorded SMS: job id, phone, body.
pub fn outbox(conn: &mut DbConnection) -> QueryResult<Vec<(i64, String, String)>> {
    sms_outbox::table
        .order(sms_outbox::id)
        .select((sms_outbox::job_id, sms_outbox::phone, sms_outbox::body))
        .load(conn)
}

/// Counts one more SMS to `phone` unless it has had `per_day` (0: no cap) in the last 24
/// hours, whoever asked: false when it has. Requests older than two days are forgotten.
pub fn take_sms_quota(
    conn: &mut DbConnection,
    phone: &str,
    per_day: u32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let day_ago = now - chrono::Duration::hours(24);
    diesel::delete(
        sms_requests::table
            .filter(sms_requests::requested_at.lt(now - chrono::Duration::hours(48))),
    )
    .execute(conn)?;
    if per_day > 0 {
        let sent: i64 = sms_requests::table
            .filter(sms_requests::phone.eq(phone))
            .filter(sms_requests::requested_at.gt(day_ago))
            .count()
            .get_result(conn)?;
        if sent >= i64::from(per_day) {
            return Ok(false);
        }
    }
    diesel::insert_into(sms_requests::table)
        .values((
            sms_requests::phone.eq(phone),
            sms_requests::requested_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}
