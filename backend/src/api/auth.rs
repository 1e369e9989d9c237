//! `/api/auth/*` and `/api/me`: signup, login and the signed-in user.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use actix_web::{HttpRequest, HttpResponse, web};
use natter_shared::{
    AuthResponse, ChangePassword, Credentials, ErrorKind, Me, Password, PhoneNumber, UpdateMe,
    Username,
};

/// Creates an account and signs in.
#[utoipa::path(
    post,
    operation_id = "auth_signup",
    path = "/api/auth/signup",
    tag = "accounts",
    request_body = natter_shared::Credentials,
    responses(
        (status = 201, description = "signed up", body = natter_shared::AuthResponse),
        super::docs::BadJsonBody,
        (status = 409, description = "the username is taken", body = natter_shared::ErrorBody),
        (status = 422, description = "a broken rule: invalid_username, reserved_username, invalid_password", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    )
)]
pub async fn signup(
    state: web::Data<AppState>,
    body: super::body::Body<Credentials>,
) -> ApiResult<HttpResponse> {
    let Credentials { username, password } = body.into_inner();
    let username = Username::parse_for_signup(username)?;
    let password = Password::parse(password)?;
    let hash = state
        .auth
        .hash_password(password.expose().to_owned())
        .await?;
    let row = state
        .db
        .run(move |conn| users::create(conn, &username, &hash, false))
        .await?;
    tracing::info!(user_id = row.id, "signed up");
    Ok(HttpResponse::Created().json(state.auth.signed_in(&row)?))
}

/// Checks the password. Failed attempts are counted per username and per client address;
/// past either limit, logins answer 429 with `Retry-After` before any password is checked.
#[utoipa::path(
    post,
    operation_id = "auth_login",
    path = "/api/auth/login",
    tag = "accounts",
    request_body = natter_shared::Credentials,
    responses(
        (status = 200, description = "signed in", body = natter_shared::AuthResponse),
        super::docs::BadJsonBody,
        (status = 401, description = "wrong username or password", body = natter_shared::ErrorBody),
        (status = 429, description = "too many failed logins for this name or address; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::body::Body<Credentials>,
) -> ApiResult<web::Json<AuthResponse>> {
    let Credentials { username, password } = body.into_inner();
    let name_key = username.trim().to_lowercase();
    let addr = req.peer_addr().map(|a| a.ip());
    let throttled = state
        .login_names
        .peek(name_key.clone())
        .and_then(|()| addr.map_or(Ok(()), |a| state.login_addrs.peek(a)));
    if let Err(wait) = throttled {
        tracing::warn!(?addr, "login throttled");
        return Err(ApiError::rate_limited(wait));
    }
    // A name that breaks the rules cannot exist: look nothing up, but spend the same time.
    let key = Username::parse(username).ok().map(|u| u.key());
    let row = match key {
        Some(key) => {
            state
                .db
                .run(move |conn| Ok(users::find_by_key(conn, &key)?))
                .await?
        }
        None => None,
    };
    let usable = row.filter(|r| r.is_active);
    let hash = usable.as_ref().map(|r| r.password_hash.clone());
    let ok = state.auth.verify_password(password, hash).await?;
    let row = match (ok, usable) {
        (true, Some(row)) => row,
        _ => {
            let _ = state.login_names.check(name_key);
            if let Some(addr) = addr {
                let _ = state.login_addrs.check(addr);
            }
            return Err(ApiError::new(
                ErrorKind::InvalidCredentials,
                "wrong username or password",
            ));
        }
    };
    Ok(web::Json(state.auth.signed_in(&row)?))
}

/// Changes the caller's password after checking the current one. Every token issued before
/// stops working and the caller's open sockets close; the answer carries a new token.
#[utoipa::path(
    post,
    operation_id = "auth_change_password",
    path = "/api/me/password",
    tag = "accounts",
    request_body = natter_shared::ChangePassword,
    responses(
        (status = 200, description = "changed; a new token", body = natter_shared::AuthResponse),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 422, description = "the new password breaks the rules", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    body: super::body::Body<ChangePassword>,
) -> ApiResult<web::Json<AuthResponse>> {
    let ChangePassword {
        current_password,
        new_password,
    } = body.into_inner();
    let new_password = Password::parse(new_password)?;
    let id = user.id;
    let row = state
        .db
        .run(move |conn| {
            users::find_by_id(conn, id)?.ok_or_else(|| ApiError::not_found(format!("user {id}")))
        })
        .await?;
    let ok = state
        .auth
        .verify_password(current_password, Some(row.password_hash))
        .await?;
    if !ok {
        return Err(ApiError::new(
            ErrorKind::InvalidCredentials,
            "the current password is wrong",
        ));
    }
    let hash = state
        .auth
        .hash_password(new_password.expose().to_owned())
        .await?;
    let row = state
        .db
        .run(move |conn| Ok(users::set_password(conn, id, &hash)?))
        .await?;
    state
        .hub
        .disconnect_user(id, "password changed: sign in again");
    tracing::info!(user_id = row.id, "password changed");
    Ok(web::Json(state.auth.signed_in(&row)?))
}

/// The caller, with what only they see (their phone number).
#[utoipa::path(
    get,
    operation_id = "auth_me",
    path = "/api/me",
    tag = "accounts",
    responses(
        (status = 200, description = "the caller", body = natter_shared::Me),
        super::docs::Unauthorized,
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Me>> {
    let row = state
        .db
        .run(move |conn| {
            users::find_by_id(conn, user.id)?.ok_or_else(|| ApiError::not_found("user"))
        })
        .await?;
    Ok(web::Json(row.to_me()))
}

/// Changes the caller's own settings: for now the phone number that `/sms` uses.
#[utoipa::path(
    patch,
    operation_id = "auth_update_me",
    path = "/api/me",
    tag = "accounts",
    request_body = natter_shared::UpdateMe,
    responses(
        (status = 200, description = "updated", body = natter_shared::Me),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 422, description = "an invalid phone number", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn update_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: super::body::Body<UpdateMe>,
) -> ApiResult<web::Json<Me>> {
    let UpdateMe { phone } = body.into_inner();
    let row = match phone {
        Some(phone) => {
            let phone = phone.map(PhoneNumber::parse).transpose()?;
            state
                .db
                .run(move |conn| {
                    Ok(users::set_phone(
                        conn,
                        user.id,
                        phone.as_ref().map(PhoneNumber::as_str),
                    )?)
                })
                .await?
        }
        None => {
            state
                .db
                .run(move |conn| {
                    users::find_by_id(conn, user.id)?.ok_or_else(|| ApiError::not_found("user"))
                })
                .await?
        }
    };
    Ok(web::Json(row.to_me()))
}
