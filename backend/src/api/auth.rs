//! `/api/auth/*` and `/api/me`: signup, login and the signed-in user.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::{jobs, users};
use crate::error::{ApiError, ApiResult};
use crate::net::AddrKey;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use natter_shared::{
    AuthResponse, ChangePassword, Credentials, ErrorKind, Me, Password, PhoneNumber, UpdateMe,
    Username, VerifyPhone,
};
use std::time::Duration;

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
        (status = 409, description = "the username (or one that looks like it) is taken", body = natter_shared::ErrorBody),
        (status = 422, description = "a broken rule: invalid_username, reserved_username, invalid_password", body = natter_shared::ErrorBody),
        (status = 429, description = "too many sign-ups from this address; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Busy
    )
)]
pub async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::body::Body<Credentials>,
) -> ApiResult<HttpResponse> {
    let Credentials { username, password } = body.into_inner();
    let username = Username::parse_for_signup(username)?;
    let password = Password::parse(password)?;
    if let Some(addr) = state.client(&req)
        && let Err(wait) = state.limits.signups.check(addr)
    {
        tracing::warn!(%addr, "sign-up throttled");
        return Err(ApiError::throttled("sign-ups from this address", wait));
    }
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

/// The tokens one login attempt took from the throttles, before its password was checked:
/// kept when the password was wrong, given back when it was right.
struct LoginCharge<'a> {
    state: &'a AppState,
    name: String,
    addr: Option<AddrKey>,
}

impl<'a> LoginCharge<'a> {
    /// Takes a token from every throttle that applies, or none and says how long to wait.
    fn take(state: &'a AppState, name: String, addr: Option<AddrKey>) -> Result<Self, Duration> {
        let limits = &state.limits;
        if let Some(addr) = addr {
            limits.login_addrs.check(addr)?;
            if let Err(wait) = limits.login_pairs.check((name.clone(), addr)) {
                limits.login_addrs.refund(&addr);
                return Err(wait);
            }
        }
        if let Err(wait) = limits.login_names.check(name.clone()) {
            // Refused before costing anything: give back what this attempt took.
            if let Some(addr) = addr {
                limits.login_addrs.refund(&addr);
                limits.login_pairs.refund(&(name, addr));
            }
            return Err(wait);
        }
        Ok(Self { state, name, addr })
    }

    /// The password was right: the attempt costs nothing.
    fn refund(self) {
        let limits = &self.state.limits;
        limits.login_names.refund(&self.name);
        if let Some(addr) = self.addr {
            limits.login_addrs.refund(&addr);
            limits.login_pairs.refund(&(self.name, addr));
        }
    }
}

/// Checks the password. Every attempt takes a token, before the password is checked, from
/// three throttles: per username and address together (tight), per username (loose), per
/// address; a right password gives them back. Past any of them, 429 with `Retry-After`.
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
        super::docs::Busy
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: super::body::Body<Credentials>,
) -> ApiResult<web::Json<AuthResponse>> {
    let Credentials { username, password } = body.into_inner();
    // A name that breaks the rules cannot exist: look nothing up, but spend the same time.
    // Such names share one throttle key, so that long junk names cost no memory.
    let key = Username::parse(username).ok().map(|u| u.key());
    let addr = state.client(&req);
    let charge =
        LoginCharge::take(&state, key.clone().unwrap_or_default(), addr).map_err(|wait| {
            tracing::warn!(?addr, "login throttled");
            ApiError::throttled("failed logins", wait)
        })?;
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
            return Err(ApiError::new(
                ErrorKind::InvalidCredentials,
                "wrong username or password",
            ));
        }
    };
    charge.refund();
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
        (status = 429, description = "too many wrong current passwords; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Busy
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
    // A stolen token must not become a way to guess the password: wrong current passwords
    // are throttled per user like failed logins, the token taken before the check.
    state
        .limits
        .password_checks
        .check(id)
        .map_err(|wait| ApiError::throttled("wrong passwords", wait))?;
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
    state.limits.password_checks.refund(&id);
    let hash = state
        .auth
        .hash_password(new_password.expose().to_owned())
        .await?;
    let row = state
        .db
        .run(move |conn| Ok(users::set_password(conn, id, &hash)?))
        .await?;
    state.hub.lists().forget_person(id);
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

/// Changes the caller's own settings: for now the phone number that `/sms` uses. A new
/// number is not used until verified: it becomes pending, and a six-digit code is sent to it
/// by SMS (counted against the number's daily cap and the caller's SMS rate), to be entered
/// with `POST /api/me/phone/verify`.
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
        (status = 429, description = "too many codes asked for, by this user or to this number; see Retry-After", body = natter_shared::ErrorBody),
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
        Some(Some(phone)) => {
            let phone = PhoneNumber::parse(phone)?;
            request_phone_code(&state, &user, phone).await?
        }
        Some(None) => {
            state
                .db
                .run(move |conn| Ok(users::clear_phone(conn, user.id)?))
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

/// How long a phone code is good for.
const PHONE_CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);

async fn request_phone_code(
    state: &AppState,
    user: &AuthUser,
    phone: PhoneNumber,
) -> ApiResult<users::UserRow> {
    state
        .limits
        .sms
        .check(user.id)
        .map_err(|wait| ApiError::throttled("SMS asked for", wait))?;
    let code = phone_code()?;
    let hash = phone_code_hash(user.id, &code);
    let payload = serde_json::to_string(&jobs::PhoneCodePayload {
        user_id: user.id.0,
        username: user.username.clone(),
        phone: phone.as_str().to_owned(),
        code,
    })
    .map_err(ApiError::internal)?;
    let (id, per_day) = (user.id, state.settings.sms_per_recipient_per_day);
    let max_attempts = i32::try_from(state.settings.job_max_attempts).unwrap_or(i32::MAX);
    let row = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let now = Utc::now().naive_utc();
                if !jobs::take_sms_quota(conn, phone.as_str(), per_day, now)? {
                    return Ok(None);
                }
                jobs::enqueue(conn, jobs::PHONE_CODE, &payload, max_attempts, now)?;
                users::set_pending_phone(conn, id, phone.as_str(), &hash, now + PHONE_CODE_TTL)
                    .map(Some)
            })
            .map_err(ApiError::from)
        })
        .await?
        .ok_or_else(|| {
            ApiError::throttled(
                "SMS to this number today",
                std::time::Duration::from_secs(3600),
            )
        })?;
    state.jobs_wake.notify_one();
    tracing::info!(user_id = %id, "phone code queued");
    Ok(row)
}

/// Six random digits.
fn phone_code() -> ApiResult<String> {
    let mut raw = [0u8; 4];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    Ok(format!("{:06}", u32::from_le_bytes(raw) % 1_000_000))
}

/// What is kept of a code: its hash with the user's id.
fn phone_code_hash(user: natter_shared::UserId, code: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{user}:{}", code.trim()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies the pending phone number with the code sent to it; it becomes the number `/sms`
/// uses. Wrong codes are throttled per user like passwords, and a code stops working after
/// five wrong tries or ten minutes.
#[utoipa::path(
    post,
    operation_id = "auth_verify_phone",
    path = "/api/me/phone/verify",
    tag = "accounts",
    request_body = natter_shared::VerifyPhone,
    responses(
        (status = 200, description = "verified", body = natter_shared::Me),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 422, description = "invalid_code: wrong, expired or used up; or no number is pending", body = natter_shared::ErrorBody),
        (status = 429, description = "too many wrong codes; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn verify_phone(
    state: web::Data<AppState>,
    user: AuthUser,
    body: super::body::Body<VerifyPhone>,
) -> ApiResult<web::Json<Me>> {
    let id = user.id;
    state
        .limits
        .password_checks
        .check(id)
        .map_err(|wait| ApiError::throttled("wrong codes", wait))?;
    let hash = phone_code_hash(id, &body.into_inner().code);
    let checked = state
        .db
        .run(move |conn| {
            Ok(users::verify_phone(
                conn,
                id,
                &hash,
                Utc::now().naive_utc(),
            )?)
        })
        .await?;
    match checked {
        users::PhoneCheck::Verified(row) => {
            state.limits.password_checks.refund(&id);
            tracing::info!(user_id = %id, "phone verified");
            Ok(web::Json(row.to_me()))
        }
        users::PhoneCheck::Refused => Err(ApiError::new(
            ErrorKind::InvalidCode,
            "the code is wrong, expired or used up: check the SMS, or save the number again for a new code",
        )),
    }
}
