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

pub async fn deactivate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<web::Json<AdminUser>> {
    set_active(state, user, UserId(path.into_inner()), false).await
}

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
    if !active {
        state.hub.disconnect_user(target, "account deactivated");
    }
    tracing::info!(admin = %admin.id, user = %target, active, "account changed");
    Ok(web::Json(row.to_admin()))
}
