//! Authentication: bcrypt password hashes, signed tokens and the extractor for the signed-in user.

use crate::db::{Database, DbConnection, users};
use crate::error::{ApiError, ApiResult};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use anyhow::Context;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use natter_shared::{ErrorKind, User, UserId};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// Who signs tokens; also what tokens are checked against.
const ISSUER: &str = "natter";
/// How long a token is good for.
pub const TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const SECRET_FILE: &str = "jwt-secret";

/// The claims of a Natter token. `ver` must equal the user's `token_version`: raising that
/// revokes every token issued before.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub ver: i32,
}

/// Keys and costs for passwords and tokens.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    bcrypt_cost: u32,
    /// Verified against when the user does not exist, so that a wrong username takes as
    /// long as a wrong password and usernames cannot be probed by timing.
    dummy_hash: String,
    hashing: Hashing,
}

/// bcrypt on a bounded pool: as many hashes at once as cores, and a short queue; past it,
/// `busy` (503 with Retry-After) at once instead of an ever longer wait for everybody.
struct Hashing {
    permits: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
    max_waiting: usize,
}

/// How long a request waits in the queue for a hashing slot at most.
const HASHING_WAIT: Duration = Duration::from_secs(3);

impl Hashing {
    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            permits: tokio::sync::Semaphore::new(cores),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            max_waiting: cores * 4,
        }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        use std::sync::atomic::Ordering;
        let busy = || ApiError::busy("password hashing", Duration::from_secs(1));
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy());
        }
        let permit = tokio::time::timeout(HASHING_WAIT, self.permits.acquire()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = match permit {
            Ok(Ok(permit)) => permit,
            _ => return Err(busy()),
        };
        Ok(web::block(f).await?)
    }
}

impl Auth {
    pub fn new(secret: &[u8], bcrypt_cost: u32) -> anyhow::Result<Self> {
        // HS256 alone: a token naming any other algorithm, `none` included, is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        // An expired token is expired: no minute of grace (the default leeway is 60 s).
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        let dummy_hash =
            bcrypt::hash("not a real password", bcrypt_cost).context("bcrypt failed")?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            bcrypt_cost,
            dummy_hash,
            hashing: Hashing::new(),
        })
    }

    /// Hashes a password on the bounded hashing pool (bcrypt takes a quarter of a second by
    /// design); `busy` when the pool is saturated.
    pub async fn hash_password(&self, password: String) -> ApiResult<String> {
        let cost = self.bcrypt_cost;
        self.hashing
            .run(move || bcrypt::hash(password, cost))
            .await?
            .map_err(ApiError::internal)
    }

    pub fn hash_password_blocking(&self, password: &str) -> ApiResult<String> {
        bcrypt::hash(password, self.bcrypt_cost).map_err(ApiError::internal)
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is
    /// no user, on the hashing pool. A hash that is no bcrypt hash (the bot's) never matches,
    /// and neither does a password over 72 bytes: bcrypt reads only 72, and a longer one was
    /// never accepted (the hash is checked all the same, so timing tells nothing).
    pub async fn verify_password(&self, password: String, hash: Option<String>) -> ApiResult<bool> {
        let fits = natter_shared::Password::parse(password.clone()).is_ok();
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (self.dummy_hash.clone(), false),
        };
        let ok = self
            .hashing
            .run(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await?;
        Ok(ok && real && fits)
    }

    /// A fresh token for `user`, with the user: the answer to signing up, in, or a new
    /// password.
    pub fn signed_in(
        &self,
        row: &crate::db::users::UserRow,
    ) -> ApiResult<natter_shared::AuthResponse> {
        let user = row.to_api();
        Ok(natter_shared::AuthResponse {
            token: self.issue_token(user.id, row.token_version)?,
            user,
        })
    }

    pub fn issue_token(&self, user: UserId, version: i32) -> ApiResult<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user.0.to_string(),
            iat: now,
            exp: now + TOKEN_TTL.as_secs() as i64,
            iss: ISSUER.into(),
            ver: version,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Checks signature, algorithm, issuer and expiry. Revocation needs the database:
    /// see [`Auth::authenticate`].
    pub fn decode_token(&self, token: &str) -> ApiResult<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::debug!(error = %e, "token refused");
                invalid_token()
            })
    }

    /// The user a token stands for, if the token is valid, not revoked, and the user active.
    pub async fn authenticate(&self, db: &Database, token: &str) -> ApiResult<AuthUser> {
        let signed = self.signed_user(token)?;
        db.run(move |conn| signed.check(conn)).await
    }

    /// What a token says without the database: whose it is and which version it carries.
    /// [`SignedUser::check`] completes the check inside a caller's own database call.
    pub fn signed_user(&self, token: &str) -> ApiResult<SignedUser> {
        let claims = self.decode_token(token)?;
        let id = claims
            .sub
            .parse()
            .map(UserId)
            .map_err(|_| invalid_token())?;
        Ok(SignedUser {
            id,
            version: claims.ver,
        })
    }
}

/// A token's user, signature and expiry checked; revocation still to check.
#[derive(Debug, Clone, Copy)]
pub struct SignedUser {
    id: UserId,
    version: i32,
}

impl SignedUser {
    /// Whose token it is (the signature is checked; revocation is not yet).
    pub fn id(&self) -> UserId {
        self.id
    }

    /// The token version it carries: current only while it equals the user's.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The user, if they exist, are active, and the token's version is current.
    pub fn check(self, conn: &mut DbConnection) -> ApiResult<AuthUser> {
        match users::find_by_id(conn, self.id)? {
            Some(row) if row.is_active && row.token_version == self.version => Ok(AuthUser {
                id: self.id,
                token_version: self.version,
                username: row.username,
                is_admin: row.is_admin,
            }),
            _ => Err(invalid_token()),
        }
    }
}

/// The bearer token of a request, checked for nothing yet: for handlers that check the user
/// in the same database call as their own work (one trip to the blocking pool, not two).
pub struct Bearer(pub String);

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            bearer_token(req)
                .map(|t| Bearer(t.to_owned()))
                .ok_or_else(missing_token),
        )
    }
}

fn missing_token() -> ApiError {
    ApiError::new(
        ErrorKind::MissingToken,
        "sign in first: send 'Authorization: Bearer <token>'",
    )
}

fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorKind::InvalidToken,
        "the token is invalid, expired or revoked; log in again",
    )
}

/// The secret from the settings, or the one kept in `data_dir`, made on first start. With no
/// data folder (Postgres: several nodes must sign alike) the secret must be set.
pub fn load_or_create_secret(
    configured: Option<&str>,
    data_dir: Option<&Path>,
) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = configured {
        anyhow::ensure!(
            secret.len() >= 32,
            "NATTER_JWT_SECRET must be at least 32 bytes long"
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let data_dir = data_dir.context(
        "on Postgres every node must sign tokens with the same secret: \
         set NATTER_JWT_SECRET (32 characters or more)",
    )?;
    let path = data_dir.join(SECRET_FILE);
    if path.exists() {
        let secret = std::fs::read(&path)
            .with_context(|| format!("cannot read the token secret {}", path.display()))?;
        anyhow::ensure!(
            secret.len() >= 32,
            "the token secret {} is too short: delete it to have a new one made (every session ends)",
            path.display()
        );
        return Ok(secret);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no randomness for the secret: {e}"))?;
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = open_private(&path)
        .with_context(|| format!("cannot create the token secret {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a token secret");
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The signed-in user of a request: take it as a handler argument to require a valid token.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    /// The version of the token it signed in with: still the user's, or revoked since.
    pub token_version: i32,
    pub username: String,
    pub is_admin: bool,
}

impl AuthUser {
    /// Whether the token it signed in with still stands (not revoked since, user active).
    pub fn still_valid(&self, conn: &mut DbConnection) -> ApiResult<bool> {
        Ok(users::find_by_id(conn, self.id)?
            .is_some_and(|row| row.is_active && row.token_version == self.token_version))
    }

    pub fn to_api(&self) -> User {
        User {
            id: self.id,
            username: self.username.clone(),
            is_admin: self.is_admin,
        }
    }
}

/// The bearer token of a request's `Authorization` header, if it has one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_owned);
        let state = req.app_data::<web::Data<crate::AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or_else(missing_token)?;
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            state.auth.authenticate(&state.db, &token).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(None, Some(dir.path())).unwrap();
        let again = load_or_create_secret(None, Some(dir.path())).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.len(), 64);
        let configured = "x".repeat(32);
        assert_eq!(
            load_or_create_secret(Some(&configured), Some(dir.path())).unwrap(),
            configured.as_bytes()
        );
        assert!(load_or_create_secret(Some("short"), Some(dir.path())).is_err());
    }

    #[test]
    fn tokens_round_trip_and_carry_the_version() {
        let auth = Auth::new(&[7; 32], 4).unwrap();
        let token = auth.issue_token(UserId(5), 3).unwrap();
        let claims = auth.decode_token(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.ver, claims.iss.as_str()),
            ("5", 3, "natter")
        );
        assert_eq!(claims.exp - claims.iat, TOKEN_TTL.as_secs() as i64);
        let other = Auth::new(&[8; 32], 4).unwrap();
        assert!(other.decode_token(&token).is_err());
    }
}
