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

/// One event in a room, serialized once.
///
/// A room's live events carry a copy of the frame for each thread sessions run on
/// ([`Event::fanned_out`]), and
/// the recipients on one thread share one copy: every recipient takes a reference to the
/// frame, and a reference count that every worker thread bumps, for each recipient of each
/// event, moves between their cores each time (the largest item of S1's profile,
/// docs/BENCHMARKS.md). Pages of history, read by a few sessions catching up, keep one copy.
#[derive(Debug)]
pub struct Event {
    pub kind: EventKind,
    frames: Box<[ByteString]>,
}

impl Event {
    /// An event with one copy of its frame.
    pub fn new(kind: EventKind, frame: String) -> Self {
        Self {
            kind,
            frames: Box::new([ByteString::from(frame)]),
        }
    }

    /// An event for a room's ring: `copies` copies of the frame, one for each thread
    /// sessions run on ([`Hub::frame_copies`]).
    pub fn fanned_out(kind: EventKind, frame: String, copies: usize) -> Self {
        let frame = ByteString::from(frame);
        let frames = (0..copies.max(1))
            .map(|i| {
                if i == 0 {
                    frame.clone()
                } else {
                    ByteString::from(String::from(&*frame))
                }
            })
            .collect();
        Self { kind, frames }
    }

    /// The frame, from this thread's copy.
    pub fn frame(&self) -> &ByteString {
        &self.frames[thread_slot() % self.frames.len()]
    }

    /// What a session takes of the event from its room's ring: the kind and this thread's
    /// copy of the frame, and no reference to the event itself.
    pub fn live(event: &SharedEvent) -> Live {
        Live {
            kind: event.kind,
            frame: event.frame().clone(),
        }
    }
}

/// A live event as a session has it: see [`Event::live`].
#[derive(Debug, Clone)]
pub struct Live {
    pub kind: EventKind,
    pub frame: ByteString,
}

/// This thread's copy of a frame: threads are numbered as they first ask.
fn thread_slot() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    SLOT.with(|slot| *slot)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fanned_out_event_gives_each_thread_its_own_copy_of_the_same_frame() {
        let event = Arc::new(Event::fanned_out(
            EventKind::Presence,
            "{\"x\":1}".into(),
            3,
        ));
        assert_eq!(event.frames.len(), 3);
        let mut at: Vec<*const u8> = event.frames.iter().map(|f| f.as_ptr()).collect();
        assert!(event.frames.iter().all(|f| &**f == "{\"x\":1}"));
        at.sort_unstable();
        at.dedup();
        assert_eq!(at.len(), 3, "copies, not references to one");
        // A session takes its own thread's copy; every thread has a number of its own.
        let here = Event::live(&event);
        assert_eq!(here.kind, EventKind::Presence);
        let mine = &event.frames[thread_slot() % event.frames.len()];
        assert_eq!(here.frame.as_ptr(), mine.as_ptr());
        let there = std::thread::spawn(thread_slot)
            .join()
            .unwrap_or(thread_slot());
        assert_ne!(there, thread_slot());
        let single = Event::new(EventKind::Presence, "p".into());
        assert_eq!(single.frames.len(), 1, "a page's event keeps one copy");
    }
}
