//! The actor of one WebSocket session: its state, frames in and out, heartbeats, and closing
//! when it is too slow or the server stops. Each concern has a module of its own: the auth
//! handshake ([`auth`]), rooms joined and catch-up ([`rooms`]), sends and commands
//! ([`posting`]), typing ([`typing`]) and fragmented frames ([`frames`]).

mod auth;
mod frames;
mod posting;
mod read;
mod rooms;
mod typing;

use super::Live;
use super::hub::SessionId;
use super::room::Unsubscribe;
use super::seam::Seam;
use crate::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::realtime::ring::Lagged;
use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use frames::{Fragment, Fragments};
use natter_shared::limits::MAX_FRAME_BYTES;
use natter_shared::ws::{ClientFrame, ServerFrame};
use natter_shared::{ErrorKind, MessageId, RoomId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct WsSession {
    id: SessionId,
    state: Arc<AppState>,
    user: Option<AuthUser>,
    /// Last frame from the client, for the heartbeat.
    heard: Instant,
    /// Looked up for every live event: hashed with foldhash (seeded per process), not SipHash.
    rooms: foldhash::HashMap<RoomId, Joined>,
    /// Rooms being joined: the room may count this session before the answer arrives.
    joining: HashMap<RoomId, u64>,
    next_join: u64,
    /// Rooms this user may post to, learned from the database once.
    may_post: std::collections::HashSet<RoomId>,
    typing_at: HashMap<RoomId, Instant>,
    /// A fragmented text frame being put together.
    fragments: Fragments,
    /// This socket's place in the per-address and per-user counts.
    slot: crate::limiter::SocketSlot,
}

struct Joined {
    room: Addr<crate::realtime::room::Room>,
    stream: SpawnHandle,
    generation: u64,
    /// Where the messages read from the database meet the live ones.
    seam: Seam,
}

/// A live event of a joined room.
#[derive(Message)]
#[rtype(result = "()")]
struct RoomItem(RoomId, Result<Live, Lagged>);

/// What the hub tells a session from outside its rooms.
#[derive(Message)]
#[rtype(result = "()")]
pub enum Signal {
    /// The server is stopping: close with 1001.
    Shutdown,
    /// A room this session's user may see was created.
    RoomAdded(natter_shared::Room),
    /// The user's tokens were revoked (password changed, account deactivated): close 1008.
    Revoked(String),
    /// An admin deleted a room: leave it and say so.
    RoomDeleted(RoomId),
    /// The user is not a member of the room any more: leave it and say so.
    Removed(RoomId),
    /// The user's read marker of a room moved.
    Read(RoomId, MessageId),
}

impl WsSession {
    pub fn new(
        state: Arc<AppState>,
        user: Option<AuthUser>,
        slot: crate::limiter::SocketSlot,
    ) -> Self {
        let id = state.hub.next_session_id();
        Self {
            id,
            state,
            user,
            heard: Instant::now(),
            rooms: foldhash::HashMap::default(),
            joining: HashMap::new(),
            next_join: 0,
            may_post: Default::default(),
            typing_at: HashMap::new(),
            fragments: Fragments::default(),
            slot,
        }
    }

    fn settings(&self) -> &crate::config::Settings {
        &self.state.settings
    }

    fn send(&self, ctx: &mut ws::WebsocketContext<Self>, frame: &ServerFrame) {
        ctx.text(frame_text(frame));
    }

    fn error(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        code: ErrorKind,
        message: impl Into<String>,
        client_id: Option<String>,
    ) {
        let frame = ServerFrame::Error {
            code,
            message: message.into(),
            client_id,
            retry_after_ms: None,
        };
        self.send(ctx, &frame);
    }

    fn api_error(
        &self,
        ctx: &mut ws::WebsocketContext<Self>,
        e: &ApiError,
        client_id: Option<String>,
    ) {
        e.log("a socket request failed");
        let frame = ServerFrame::Error {
            code: e.kind,
            message: e.message.clone(),
            client_id,
            retry_after_ms: e.retry_after().map(|wait| wait.as_millis() as u64 + 1),
        };
        self.send(ctx, &frame);
    }

    fn close(&self, ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, why: &str) {
        ctx.close(Some(CloseReason {
            code,
            description: Some(why.to_owned()),
        }));
        ctx.stop();
    }

    /// The session could not catch up with a room for a whole client timeout: close 4008;
    /// the client reconnects and joins with `since`.
    fn too_slow(&self, ctx: &mut ws::WebsocketContext<Self>, room_id: RoomId, why: &str) {
        tracing::warn!(session = self.id, %room_id, why, "session too slow: closing");
        self.state.metrics.slow_sessions_dropped.inc();
        self.close(
            ctx,
            CloseCode::Other(natter_shared::ws::close::TOO_SLOW),
            "too slow: reconnect and join with since",
        );
    }

    /// Signed in: the hub learns whose session this is, and only then is the token checked
    /// once more, before anything else is read. A password change that committed before
    /// this check is seen by it; one after it finds the session in the hub and closes it.
    /// Either way no socket outlives a revocation.
    fn ready(&self, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(user) = self.user.clone() else {
            return;
        };
        self.state.hub.identify(self.id, user.id);
        let state = self.state.clone();
        let check = {
            let user = user.clone();
            async move { state.db.run(move |conn| user.still_valid(conn)).await }
        };
        ctx.wait(
            check
                .into_actor(self)
                .map(move |valid, act, ctx| match valid {
                    Ok(true) => act.send(
                        ctx,
                        &ServerFrame::Ready {
                            user: user.to_api(),
                        },
                    ),
                    Ok(false) => act.close(
                        ctx,
                        CloseCode::Policy,
                        "the token was revoked: sign in again",
                    ),
                    Err(e) => {
                        act.api_error(ctx, &e, None);
                        act.close(
                            ctx,
                            CloseCode::Again,
                            "cannot check the token now: reconnect",
                        );
                    }
                }),
        );
    }

    fn text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        if text.len() > MAX_FRAME_BYTES {
            return self.error(
                ctx,
                ErrorKind::PayloadTooLarge,
                format!("frames hold at most {MAX_FRAME_BYTES} bytes"),
                None,
            );
        }
        let frame = match serde_json::from_str::<ClientFrame>(text) {
            Ok(frame) => frame,
            Err(e) => {
                let code = if e.is_data() {
                    ErrorKind::InvalidRequest
                } else {
                    ErrorKind::MalformedJson
                };
                return self.error(ctx, code, format!("unreadable frame: {e}"), None);
            }
        };
        let Some(user) = self.user.clone() else {
            return self.authenticate(frame, ctx);
        };
        match frame {
            ClientFrame::Auth { .. } => self.error(
                ctx,
                ErrorKind::InvalidRequest,
                "already authenticated",
                None,
            ),
            ClientFrame::Join { room_id, since } => self.join(user, room_id, since, ctx),
            ClientFrame::Leave { room_id } => self.leave(room_id, ctx),
            ClientFrame::Send {
                room_id,
                body,
                client_id,
                reply_to,
                attachments,
            } => {
                let extras = crate::posting::Extras {
                    reply_to,
                    attachments,
                };
                self.post(user, room_id, body, client_id, extras, ctx)
            }
            ClientFrame::Typing { room_id } => self.typing(user, room_id, ctx),
            ClientFrame::Read {
                room_id,
                message_id,
            } => self.read(user, room_id, message_id, ctx),
        }
    }
}

/// A frame as JSON text. Server frames always serialize (plain data, string keys); should
/// one ever fail, the client gets an error frame instead of nothing.
fn frame_text(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize a frame");
        r#"{"type":"error","code":"internal","message":"a frame could not be written"}"#.into()
    })
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.state.hub.register(self.id, ctx.address().recipient());
        let every = Duration::from_millis(self.settings().heartbeat_ms);
        let timeout = Duration::from_millis(self.settings().client_timeout_ms);
        ctx.run_interval(every, move |act, ctx| {
            if act.heard.elapsed() > timeout {
                tracing::info!(session = act.id, "no answer to pings: closing");
                return act.close(ctx, CloseCode::Away, "no answer to pings");
            }
            ctx.ping(b"");
        });
        if self.user.is_some() {
            self.ready(ctx);
        } else {
            let timeout = Duration::from_millis(self.settings().auth_timeout_ms);
            ctx.run_later(timeout, |act, ctx| {
                if act.user.is_none() {
                    act.error(ctx, ErrorKind::MissingToken, "no auth frame in time", None);
                    act.close(ctx, CloseCode::Policy, "not authenticated");
                }
            });
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        for (_, joined) in self.rooms.drain() {
            joined.room.do_send(Unsubscribe { session: self.id });
        }
        // A join in flight may have been counted by its room already.
        for (room_id, _) in self.joining.drain() {
            if let Some(room) = self.state.hub.existing_room(room_id) {
                room.do_send(Unsubscribe { session: self.id });
            }
        }
        self.state.hub.unregister(self.id);
        Running::Stop
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.error(
                ctx,
                ErrorKind::InvalidRequest,
                "frames are JSON text, not binary",
                None,
            ),
            Ok(ws::Message::Continuation(item)) => match self.fragments.push(item) {
                Fragment::Pending => {}
                Fragment::Text(text) => self.text(&text, ctx),
                Fragment::Refused(code, message) => self.error(ctx, code, message, None),
            },
            Ok(ws::Message::Ping(bytes)) => ctx.pong(&bytes),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Close(reason)) => {
                ctx.close(reason);
                ctx.stop();
            }
            Err(ws::ProtocolError::Overflow) => {
                self.close(ctx, CloseCode::Size, "frame too large");
            }
            Err(e) => {
                tracing::debug!(session = self.id, error = %e, "WebSocket protocol error");
                self.close(ctx, CloseCode::Protocol, "protocol error");
            }
        }
    }
}

impl StreamHandler<RoomItem> for WsSession {
    fn handle(&mut self, RoomItem(room_id, item): RoomItem, ctx: &mut Self::Context) {
        let timeout = Duration::from_millis(self.settings().client_timeout_ms);
        let Some(joined) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let event = match item {
            Ok(event) => event,
            Err(Lagged(missed)) => {
                return self.fall_behind(room_id, missed, ctx);
            }
        };
        if joined.seam.stuck(timeout, Instant::now) {
            return self.too_slow(ctx, room_id, "its catch-up made no progress");
        }
        if let Some(frame) = joined.seam.live_event(event) {
            ctx.text(frame);
        }
    }

    /// The room's actor stopped; the session carries on.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl WsSession {
    /// Leaves a room the user may not be in any more, at once: no more of its events, and
    /// the next post to it is checked again.
    fn drop_room(&mut self, room_id: RoomId, ctx: &mut ws::WebsocketContext<Self>) {
        self.may_post.remove(&room_id);
        self.joining.remove(&room_id);
        if let Some(old) = self.rooms.remove(&room_id) {
            ctx.cancel_future(old.stream);
            old.room
                .do_send(super::room::Unsubscribe { session: self.id });
        }
    }
}

impl Handler<Signal> for WsSession {
    type Result = ();

    fn handle(&mut self, signal: Signal, ctx: &mut Self::Context) {
        match signal {
            Signal::Shutdown => self.close(ctx, CloseCode::Away, "server shutting down"),
            Signal::RoomAdded(room) => self.send(ctx, &ServerFrame::Room { room }),
            Signal::Revoked(reason) => self.close(ctx, CloseCode::Policy, &reason),
            Signal::RoomDeleted(room_id) => {
                self.drop_room(room_id, ctx);
                self.send(ctx, &ServerFrame::RoomDeleted { room_id });
            }
            Signal::Removed(room_id) => {
                self.drop_room(room_id, ctx);
                self.send(ctx, &ServerFrame::Removed { room_id });
            }
            Signal::Read(room_id, message_id) => self.send(
                ctx,
                &ServerFrame::Read {
                    room_id,
                    message_id,
                },
            ),
        }
    }
}
