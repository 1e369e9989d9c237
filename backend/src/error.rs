//! One error type for the API: a kind the client sees, a message for a person, and a cause
//! that is logged and never sent.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use natter_shared::{ErrorBody, ErrorKind, NameError};
use std::fmt;

pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    cause: Option<anyhow::Error>,
    retry_after: Option<std::time::Duration>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            cause: None,
            retry_after: None,
        }
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    /// A failure of ours: logged with its cause, answered as a bare 500.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: "internal error; it has been logged".into(),
            cause: Some(cause.into()),
            retry_after: None,
        }
    }

    /// The database cannot be reached or written right now.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            kind: ErrorKind::StorageUnavailable,
            message: "storage is unavailable; try again shortly".into(),
            cause: Some(cause.into()),
            retry_after: None,
        }
    }

    /// 429, with a `Retry-After` header of `wait` rounded up to whole seconds.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                ErrorKind::RateLimited,
                format!("too many messages: wait {} ms", wait.as_millis()),
            )
        }
    }

    /// 429 for a named limit (logins, sign-ups, reads), with `Retry-After`.
    pub fn throttled(what: &str, wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                ErrorKind::RateLimited,
                format!("too many {what}: wait {} s", wait.as_secs() + 1),
            )
        }
    }

    /// 503 `busy`, with `Retry-After`: the server is saturated; the request did nothing.
    pub fn busy(what: &str, wait: std::time::Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                ErrorKind::Busy,
                format!(
                    "the server is busy with {what}: try again in {} s",
                    wait.as_secs().max(1)
                ),
            )
        }
    }

    /// 403 `limit_reached`: a count limit (not a rate) is full.
    pub fn limit_reached(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LimitReached, message)
    }

    /// How long to wait before trying again, for a rate limit.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.kind,
            message: self.message.clone(),
        }
    }
}

/// Like `Display`: the cause in one line, never a backtrace (these are expected failures).
impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ApiError {
    /// Logs a failure of ours (a 5xx) for a request or a socket frame. A failure that repeats
    /// (every message refused while the disk is full) is logged once, then once per ten
    /// seconds with how many were left out.
    pub fn log(&self, context: &'static str) {
        use crate::telemetry::Throttled;
        use std::time::Duration;
        static UNAVAILABLE: Throttled = Throttled::new(Duration::from_secs(10));
        static INTERNAL: Throttled = Throttled::new(Duration::from_secs(10));
        let throttle = match self.kind {
            ErrorKind::StorageUnavailable => &UNAVAILABLE,
            _ if self.kind.status() >= 500 => &INTERNAL,
            _ => return,
        };
        if let Some(left_out) = throttle.admit() {
            tracing::error!(error = %self, left_out, "{context}");
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause:#})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c.as_ref() as _)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.log("request failed");
        let mut res = HttpResponse::build(self.status_code());
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs.max(1)));
        }
        res.json(self.body())
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        Self::new(e.kind, e.message)
    }
}

impl From<DieselError> for ApiError {
    fn from(e: DieselError) -> Self {
        match &e {
            DieselError::NotFound => Self::internal(anyhow::anyhow!("unexpected: row not found")),
            // Locked, read-only, full or vanished files surface as these: the client may retry.
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::DatabaseError(DatabaseErrorKind::Unknown, _) => Self::unavailable(e),
            _ => Self::internal(e),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::unavailable(e)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::internal(e)
    }
}

/// True when the error is a unique constraint violation: someone else took the name.
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}
