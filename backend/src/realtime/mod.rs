//! Live messaging over `GET /ws`: one actor per WebSocket session ([`session`]), one actor per
//! active room ([`room`]), and the [`hub`] that finds rooms and reaches every session.
//!
//! A room fans an event out by serializing it once and putting the bytes on a bounded
//! broadcast ring that every subscribed session reads from. A session that falls a whole ring
//! behind reads what it missed from the database, holding live events meanwhile, then goes on
//! live: the database, not the ring, is the source of truth. Only a session whose catch-up
//! makes no progress for a client timeout is closed with
//! [`natter_shared::ws::close::TOO_SLOW`].

pub mod cluster;
pub mod hub;
pub mod pages;
pub mod recent;
pub mod ring;
pub mod room;
pub mod seam;
pub mod session;
pub mod tallies;

use crate::AppState;
use crate::auth::bearer_token;
use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use bytestring::ByteString;
pub use hub::Hub;
use natter_shared::{ErrorKind, MessageId, UserId};
use session::WsSession;
use std::sync::Arc;

/// The largest frame the WebSocket codec reads at all. Frames up to
/// [`natter_shared::limits::MAX_FRAME_BYTES`] are read; larger ones up to this size get an
/// `error` frame and the socket stays open; beyond it the socket closes with 1009.
const CODEC_MAX_FRAME: usize = 1024 * 1024;

/// One event in a room, serialized once; every recipient shares the bytes.
#[derive(Debug)]
pub struct Event {
    pub kind: EventKind,
    pub frame: ByteString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Message(MessageId),
    Presence,
    /// A change to a message or room (edited, deleted): never held back as a duplicate.
    Update,
    /// Typing by this user: not echoed to the typist's own sessions.
    Typing(UserId),
}

pub type SharedEvent = Arc<Event>;

/// `GET /ws`: checks the Origin, authenticates by header or `token` query parameter when one
/// is given (401 before the upgrade if it is bad), and starts a session actor.
pub async fn route(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_origin(&req, &state.settings.allowed_origins)?;
    let token = bearer_token(&req)
        .map(str::to_owned)
        .or_else(|| query_token(req.query_string()));
    let user = match token {
        Some(token) => Some(state.auth.authenticate(&state.db, &token).await?),
        None => None,
    };
    let addr = state.client(&req);
    let Some(mut slot) = state.limits.sockets.open(addr) else {
        tracing::warn!(?addr, "refused a socket: the address has its fill");
        return Err(ApiError::throttled(
            "open sockets from this address",
            std::time::Duration::from_secs(10),
        ));
    };
    if let Some(user) = &user
        && !slot.sign_in(user.id)
    {
        return Err(too_many_sockets(&state));
    }
    let session = WsSession::new(state.into_inner(), user, slot);
    ws::WsResponseBuilder::new(session, &req, stream)
        .frame_size(CODEC_MAX_FRAME)
        .start()
        .map_err(|e| {
            ApiError::new(
                ErrorKind::InvalidRequest,
                format!("not a WebSocket upgrade: {e}"),
            )
        })
}

/// The `token` query parameter. The query string is never logged (see `telemetry`).
/// The user has as many sockets open as they may.
pub fn too_many_sockets(state: &AppState) -> ApiError {
    ApiError::throttled(
        &format!(
            "open sockets for this user (at most {}): close one",
            state.limits.sockets.max_per_user()
        ),
        std::time::Duration::from_secs(10),
    )
}

fn query_token(query: &str) -> Option<String> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(query)
        .ok()
        .and_then(|q| q.get("token").cloned())
        .filter(|t| !t.is_empty())
}

/// A browser page may open a socket only from this server's own origin or an allowed one;
/// clients that send no Origin (curl, native apps) are not browsers and pass.
fn check_origin(req: &HttpRequest, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = req.connection_info().host().to_owned();
    let same = origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(&host));
    if same || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return Ok(());
    }
    tracing::warn!(%origin, "refused a WebSocket from a foreign origin");
    Err(ApiError::new(
        ErrorKind::Forbidden,
        format!("origin '{origin}' may not open a socket here (see NATTER_ALLOWED_ORIGINS)"),
    ))
}
