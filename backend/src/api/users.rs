//! `/api/users`: find people to talk to, a page at a time.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use actix_web::web;
use natter_shared::limits::USERNAME_CHARS;
use natter_shared::{ErrorKind, UsersPage};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct UsersQuery {
    #[serde(default)]
    q: String,
    limit: Option<u32>,
    after: Option<String>,
}

const DEFAULT_USERS_PAGE: u32 = 50;

pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: web::Query<UsersQuery>,
) -> ApiResult<web::Json<UsersPage>> {
    let UsersQuery { q, limit, after } = query.into_inner();
    let limit = super::page_limit(limit.unwrap_or(DEFAULT_USERS_PAGE))?;
    if q.chars().count() > *USERNAME_CHARS.end() {
        return Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!("q has at most {} characters", USERNAME_CHARS.end()),
        ));
    }
    // The cursor is the last case-folded name of the page before; anything else is refused.
    if let Some(after) = &after
        && (after.is_empty() || after.chars().count() > *USERNAME_CHARS.end())
    {
        return Err(ApiError::new(
            ErrorKind::InvalidCursor,
            "after must be the 'next' value of a previous page",
        ));
    }
    let mut rows = state
        .db
        .run(move |conn| Ok(users::search(conn, &q, after.as_deref(), limit)?))
        .await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(key, _)| key.clone())
    } else {
        None
    };
    Ok(web::Json(UsersPage {
        users: rows.iter().map(|(_, row)| row.to_api()).collect(),
        next,
    }))
}
