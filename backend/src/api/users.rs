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
    pub q: String,
    pub limit: Option<u32>,
    pub after: Option<String>,
}

const DEFAULT_USERS_PAGE: u32 = 50;

/// Active users whose name contains `q`, a page at a time.
#[utoipa::path(
    get,
    operation_id = "users_list",
    path = "/api/users",
    tag = "users",
    params(("q" = Option<String>, Query, description = "part of the username, any case"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 50)"), ("after" = Option<String>, Query, description = "the `next` of the page before")),
    responses(
        (status = 200, description = "a page", body = natter_shared::UsersPage),
        (status = 400, description = "a malformed query", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 422, description = "invalid_limit or invalid_cursor", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    _user: AuthUser,
    query: web::Query<UsersQuery>,
) -> ApiResult<web::Json<UsersPage>> {
    let (rows, next) = page(&state, query.into_inner(), false).await?;
    Ok(web::Json(UsersPage {
        users: rows.iter().map(users::UserRow::to_api).collect(),
        next,
    }))
}

/// One page of users matching the query (with `inactive`, deactivated ones too), and the
/// cursor of the next page.
pub async fn page(
    state: &AppState,
    query: UsersQuery,
    inactive: bool,
) -> ApiResult<(Vec<users::UserRow>, Option<String>)> {
    let UsersQuery { q, limit, after } = query;
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
        .run(move |conn| {
            Ok(users::search_among(
                conn,
                &q,
                after.as_deref(),
                limit,
                inactive,
            )?)
        })
        .await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(key, _)| key.clone())
    } else {
        None
    };
    Ok((rows.into_iter().map(|(_, row)| row).collect(), next))
}
