//! The `users` table.

use super::DbConnection;
use super::schema::users;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_shared::{User, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub is_active: bool,
    pub token_version: i32,
    pub phone: Option<String>,
    pub phone_pending: Option<String>,
}

impl UserRow {
    pub fn to_me(&self) -> natter_shared::Me {
        natter_shared::Me {
            id: UserId(self.id),
            username: self.username.clone(),
            is_admin: self.is_admin,
            phone: self.phone.clone(),
            phone_pending: self.phone_pending.clone(),
        }
    }

    pub fn to_admin(&self) -> natter_shared::AdminUser {
        natter_shared::AdminUser {
            id: UserId(self.id),
            username: self.username.clone(),
            is_admin: self.is_admin,
            is_active: self.is_active,
        }
    }

    pub fn to_api(&self) -> User {
        User {
            id: UserId(self.id),
            username: self.username.clone(),
            is_admin: self.is_admin,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_key: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, new: &NewUser<'_>) -> QueryResult<UserRow> {
    crate::each_backend!(conn, |c| diesel::insert_into(users::table)
        .values(new)
        .returning(UserRow::as_returning())
        .get_result(c))
}

/// Creates a user; a taken name (in any case) is `username_taken`.
pub fn create(
    conn: &mut DbConnection,
    username: &natter_shared::Username,
    password_hash: &str,
    is_admin: bool,
) -> crate::error::ApiResult<UserRow> {
    let new = NewUser {
        username: username.as_str(),
        username_key: &username.key(),
        password_hash,
        is_admin,
        created_at: chrono::Utc::now().naive_utc(),
    };
    insert(conn, &new).map_err(|e| {
        if crate::error::is_unique_violation(&e) {
            crate::error::ApiError::new(
                natter_shared::ErrorKind::UsernameTaken,
                format!("the username '{username}' is taken"),
            )
        } else {
            e.into()
        }
    })
}

/// Sets a new password hash and raises the token version: every token issued before stops
/// working.
pub fn set_password(conn: &mut DbConnection, id: UserId, hash: &str) -> QueryResult<UserRow> {
    crate::each_backend!(conn, |c| diesel::update(users::table.find(id.0))
        .set((
            users::password_hash.eq(hash),
            users::token_version.eq(users::token_version + 1),
        ))
        .returning(UserRow::as_returning())
        .get_result(c))
}

/// Deactivates (raising the token version, so every token stops working) or reactivates a
/// user; `None` if there is no such user. The chat bot is no user to change.
pub fn set_active(
    conn: &mut DbConnection,
    id: UserId,
    active: bool,
) -> QueryResult<Option<UserRow>> {
    let bump = if active { 0 } else { 1 };
    crate::each_backend!(conn, |c| diesel::update(
        users::table
            .find(id.0)
            .filter(users::username_key.ne(natter_shared::limits::BOT_USERNAME)),
    )
    .set((
        users::is_active.eq(active),
        users::token_version.eq(users::token_version + bump),
    ))
    .returning(UserRow::as_returning())
    .get_result(c))
    .optional()
}

/// Sets or clears a user's phone number.
/// Removes the user's phone number, verified or pending.
pub fn clear_phone(conn: &mut DbConnection, id: UserId) -> QueryResult<UserRow> {
    crate::each_backend!(conn, |c| diesel::update(users::table.find(id.0))
        .set((
            users::phone.eq(None::<String>),
            users::phone_pending.eq(None::<String>),
            users::phone_code_hash.eq(None::<String>),
            users::phone_code_expires_at.eq(None::<NaiveDateTime>),
            users::phone_code_attempts.eq(0),
        ))
        .returning(UserRow::as_returning())
        .get_result(c))
}

/// Makes `phone` the user's pending number, waiting for the code whose hash is given. The
/// verified number, if any, stays in use until the new one is verified.
pub fn set_pending_phone(
    conn: &mut DbConnection,
    id: UserId,
    phone: &str,
    code_hash: &str,
    expires_at: NaiveDateTime,
) -> QueryResult<UserRow> {
    crate::each_backend!(conn, |c| diesel::update(users::table.find(id.0))
        .set((
            users::phone_pending.eq(phone),
            users::phone_code_hash.eq(code_hash),
            users::phone_code_expires_at.eq(expires_at),
            users::phone_code_attempts.eq(0),
        ))
        .returning(UserRow::as_returning())
        .get_result(c))
}

/// Sets a number as verified without a code: for an operator who checked it another way,
/// and for tests of what comes after verification.
pub fn set_verified_phone(conn: &mut DbConnection, id: UserId, phone: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id.0))
        .set((
            users::phone.eq(phone),
            users::phone_pending.eq(None::<String>),
        ))
        .execute(conn)
}

/// What checking a phone code came to.
pub enum PhoneCheck {
    Verified(UserRow),
    /// Wrong, expired, used up, or no number is pending.
    Refused,
}

/// A pending number, its code's hash, expiry and wrong tries.
type PendingCode = (Option<String>, Option<String>, Option<NaiveDateTime>, i32);

/// The most wrong codes one sent code takes before it stops working.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// Checks a code against the pending number's: right and in time, the number becomes the
/// verified one; wrong, one of [`MAX_CODE_ATTEMPTS`] is spent.
pub fn verify_phone(
    conn: &mut DbConnection,
    id: UserId,
    code_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<PhoneCheck> {
    super::write_transaction(conn, |conn| {
        let row: Option<PendingCode> = users::table
            .find(id.0)
            .select((
                users::phone_pending,
                users::phone_code_hash,
                users::phone_code_expires_at,
                users::phone_code_attempts,
            ))
            .first(conn)
            .optional()?;
        let Some((Some(pending), Some(hash), Some(expires), attempts)) = row else {
            return Ok(PhoneCheck::Refused);
        };
        if attempts >= MAX_CODE_ATTEMPTS || expires < now {
            return Ok(PhoneCheck::Refused);
        }
        if hash != code_hash {
            diesel::update(users::table.find(id.0))
                .set(users::phone_code_attempts.eq(attempts + 1))
                .execute(conn)?;
            return Ok(PhoneCheck::Refused);
        }
        let row = crate::each_backend!(conn, |c| diesel::update(users::table.find(id.0))
            .set((
                users::phone.eq(&pending),
                users::phone_pending.eq(None::<String>),
                users::phone_code_hash.eq(None::<String>),
                users::phone_code_expires_at.eq(None::<NaiveDateTime>),
                users::phone_code_attempts.eq(0),
            ))
            .returning(UserRow::as_returning())
            .get_result(c))?;
        Ok(PhoneCheck::Verified(row))
    })
}

pub fn find_by_key(conn: &mut DbConnection, key: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::username_key.eq(key))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConnection, id: UserId) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id.0)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// A page of active users (the bot left out) whose name key (case-folded look-alike
/// skeleton) contains the key of `query`,
/// ordered by that name, after the cursor `after`. Returns one more row than `limit` when
/// there is a next page.
pub fn search(
    conn: &mut DbConnection,
    query: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(String, UserRow)>> {
    search_among(conn, query, after, limit, false)
}

/// Like [`search`], and with `inactive` deactivated users too (for admins).
pub fn search_among(
    conn: &mut DbConnection,
    query: &str,
    after: Option<&str>,
    limit: i64,
    inactive: bool,
) -> QueryResult<Vec<(String, UserRow)>> {
    let mut q = users::table
        .filter(users::username_key.ne(natter_shared::limits::BOT_USERNAME))
        .into_boxed();
    if !inactive {
        q = q.filter(users::is_active.eq(true));
    }
    if !query.is_empty() {
        q = q.filter(
            users::username_key
                .like(format!(
                    "%{}%",
                    escape_like(&natter_shared::names::name_key(query))
                ))
                .escape('\\'),
        );
    }
    if let Some(after) = after {
        q = q.filter(users::username_key.gt(after.to_owned()));
    }
    q.order(users::username_key.asc())
        .limit(limit + 1)
        .select((users::username_key, UserRow::as_select()))
        .load(conn)
}

/// Escapes LIKE's wildcards with a backslash: `_` is a legal name character and must match itself.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"a_b%c\d"), r"a\_b\%c\\d");
    }
}
