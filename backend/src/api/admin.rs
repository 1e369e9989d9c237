//! `/api/admin`: what admins (made with `natter create-admin`) may do to other accounts.

use super::users::{UsersQuery, page};
use crate::AppState;
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use actix_web::web;
use natter_shared::{AdminUser, AdminUsersPage, ErrorKind, UserId};

fn require_admin(user: &AuthUser) -> ApiResult<()> {
    if user.is_admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            "only admins may do this",
        ))
    }
}

/// Every user, deactivated ones included, a page at a time.
#[utoipa::path(
    get,
    operation_id = "admin_users",
    path = "/api/admin/users",
    tag = "admin",
    params(("q" = Option<String>, Query, description = "part of the username, any case"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 50)"), ("after" = Option<String>, Query, description = "the `next` of the page before")),
    responses(
        (status = 200, description = "a page", body = natter_shared::AdminUsersPage),
        (status = 400, description = "a malformed query", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "not an admin", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_limit or invalid_cursor", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn users(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<UsersQuery>,
) -> ApiResult<web::Json<AdminUsersPage>> {
    require_admin(&user)?;
    let (rows, next) = page(&state, query.into_inner(), true).await?;
    Ok(web::Json(AdminUsersPage {
        users: rows.iter().map(users::UserRow::to_admin).collect(),
        next,
    }))
}

/// Deactivates a user: no login, tokens revoked, sockets closed (admins only).
#[utoipa::path(
    post,
    operation_id = "admin_deactivate",
    path = "/api/admin/users/{id}/deactivate",
    tag = "admin",
    params(("id" = i64, Path, description = "the user id")),
    responses(
        (status = 200, description = "deactivated", body = natter_shared::AdminUser),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "not an admin, or oneself", body = natter_shared::ErrorBody),
        (status = 404, description = "no such user", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn deactivate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<web::Json<AdminUser>> {
    set_active(state, user, UserId(path.into_inner()), false).await
}

/// Lets a deactivated user log in again (admins only).
#[utoipa::path(
    post,
    operation_id = "admin_reactivate",
    path = "/api/admin/users/{id}/reactivate",
    tag = "admin",
    params(("id" = i64, Path, description = "the user id")),
    responses(
        (status = 200, description = "reactivated", body = natter_shared::AdminUser),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "not an admin", body = natter_shared::ErrorBody),
        (status = 404, description = "no such user", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn reactivate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<web::Json<AdminUser>> {
    set_active(state, user, UserId(path.into_inner()), true).await
}

/// A deactivated user cannot log in, their tokens stop working, and their open sockets are
/// closed at once. Reactivating lets them log in again (old tokens stay revoked).
async fn set_active(
    state: web::Data<AppState>,
    admin: AuthUser,
    target: UserId,
    active: bool,
) -> ApiResult<web::Json<AdminUser>> {
    require_admin(&admin)?;
    if target == admin.id && !active {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "admins cannot deactivate themselves",
        ));
    }
    let row = state
        .db
        .run(move |conn| {
            users::set_active(conn, target, active)?
                .ok_or_else(|| ApiError::not_found(format!("user {target}")))
        })
        .await?;
    state.hub.lists().forget_person(target);
    if !active {
        state.hub.disconnect_user(target, "account deactivated");
    }
    tracing::info!(admin = %admin.id, user = %target, active, "account changed");
    Ok(web::Json(row.to_admin()))
}
