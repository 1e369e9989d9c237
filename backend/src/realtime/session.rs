//! The actor of one WebSocket session: authentication, frames in and out, the rooms it has
//! joined (with catch-up), heartbeats, and closing when it is too slow or the server stops.

use super::SharedEvent;
use super::hub::SessionId;
use super::pages::{Page, message_event};
use super::room::{Subscribe, Subscription, Typing, Unsubscribe};
use super::seam::{Next, Seam};
use crate::AppState;
use crate::auth::AuthUser;
use crate::bot::Outcome;
use crate::db::messages;
use crate::db::writer::{Answer, NewMessage, Queued};
use crate::error::ApiError;
use crate::posting::Post;
use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use natter_shared::commands::{Command, CommandError};
use natter_shared::limits::MAX_FRAME_BYTES;
use natter_shared::ws::{ClientFrame, ServerFrame};
use natter_shared::{ErrorKind, MessageId, RoomId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Messages replayed per database read when a client joins with `since` or catches up.
const REPLAY_PAGE: i64 = 500;
/// How long a session waits before reading again after a failed read.
const REPLAY_RETRY: Duration = Duration::from_millis(200);
/// A typing event is relayed at most this often per session and room.
const TYPING_EVERY: Duration = Duration::from_secs(1);

pub struct WsSession {
    id: SessionId,
    state: Arc<AppState>,
    user: Option<AuthUser>,
    /// Last frame from the client, for the heartbeat.
    heard: Instant,
    rooms: HashMap<RoomId, Joined>,
    /// Rooms being joined: the room may count this session before the answer arrives.
    joining: HashMap<RoomId, u64>,
    next_join: u64,
    /// Rooms this user may post to, learned from the database once.
    may_post: std::collections::HashSet<RoomId>,
    typing_at: HashMap<RoomId, Instant>,
    /// A fragmented text frame being put together.
    fragments: Option<Vec<u8>>,
}

struct Joined {
    room: Addr<super::room::Room>,
    stream: SpawnHandle,
    generation: u64,
    /// Where the messages read from the database meet the live ones.
    seam: Seam,
}

/// A live event of a joined room.
#[derive(Message)]
#[rtype(result = "()")]
struct RoomItem(RoomId, Result<SharedEvent, BroadcastStreamRecvError>);

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
}

impl WsSession {
    pub fn new(state: Arc<AppState>, user: Option<AuthUser>) -> Self {
        let id = state.hub.next_session_id();
        Self {
            id,
            state,
            user,
            heard: Instant::now(),
            rooms: HashMap::new(),
            joining: HashMap::new(),
            next_join: 0,
            may_post: Default::default(),
            typing_at: HashMap::new(),
            fragments: None,
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

    fn ready(&self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(user) = &self.user {
            self.state.hub.identify(self.id, user.id);
            self.send(
                ctx,
                &ServerFrame::Ready {
                    user: user.to_api(),
                },
            );
        }
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
            } => self.post(user, room_id, body, client_id, ctx),
            ClientFrame::Typing { room_id } => self.typing(user, room_id, ctx),
        }
    }

    fn authenticate(&mut self, frame: ClientFrame, ctx: &mut ws::WebsocketContext<Self>) {
        let ClientFrame::Auth { token } = frame else {
            self.error(
                ctx,
                ErrorKind::MissingToken,
                "authenticate first: send an auth frame",
                None,
            );
            return self.close(ctx, CloseCode::Policy, "not authenticated");
        };
        let state = self.state.clone();
        let fut = async move { state.auth.authenticate(&state.db, &token).await };
        ctx.wait(fut.into_actor(self).map(|res, act, ctx| match res {
            Ok(user) => {
                act.user = Some(user);
                act.ready(ctx);
            }
            Err(e) => {
                act.api_error(ctx, &e, None);
                act.close(ctx, CloseCode::Policy, "authentication failed");
            }
        }));
    }

    fn join(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        since: Option<MessageId>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        self.next_join += 1;
        let generation = self.next_join;
        self.joining.insert(room_id, generation);
        let state = self.state.clone();
        let session = self.id;
        let fut = async move {
            state.visible_room(room_id, user.id).await?;
            // A room actor that stopped as we found it answers nothing: start another.
            for _ in 0..3 {
                let room = state.hub.room(room_id);
                let sub = Subscribe {
                    session,
                    user: user.id,
                    username: user.username.clone(),
                };
                if let Ok(subscription) = room.send(sub).await {
                    return Ok((room, subscription));
                }
            }
            Err(ApiError::unavailable(anyhow::anyhow!(
                "room {room_id} did not answer"
            )))
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            if act.joining.get(&room_id) != Some(&generation) {
                return; // superseded by a later join or a leave
            }
            act.joining.remove(&room_id);
            match res {
                Ok((room, subscription)) => {
                    act.joined(room_id, since, generation, room, subscription, ctx)
                }
                Err(e) => act.api_error(ctx, &e, None),
            }
        }));
    }

    fn joined(
        &mut self,
        room_id: RoomId,
        since: Option<MessageId>,
        generation: u64,
        room: Addr<super::room::Room>,
        subscription: Subscription,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if let Some(old) = self.rooms.remove(&room_id) {
            ctx.cancel_future(old.stream);
        }
        let events =
            BroadcastStream::new(subscription.events).map(move |item| RoomItem(room_id, item));
        let stream = ctx.add_stream(events);
        self.may_post.insert(room_id);
        let me = self
            .user
            .as_ref()
            .map_or(natter_shared::UserId(0), |u| u.id);
        let limit = self.settings().room_buffer as usize;
        let seam = match since {
            Some(since) => Seam::replaying(me, since, limit, Instant::now()),
            None => Seam::live(me, limit),
        };
        self.rooms.insert(
            room_id,
            Joined {
                room,
                stream,
                generation,
                seam,
            },
        );
        self.send(
            ctx,
            &ServerFrame::Joined {
                room_id,
                online: subscription.online,
            },
        );
        if let Some(since) = since {
            self.replay(room_id, generation, since, ctx);
        }
    }

    /// Sends every stored message of the room after `after`, a page at a time, then the live
    /// events held meanwhile that are newer than the last one sent. If held messages were
    /// lost meanwhile, reads on from the last one sent first. A failed read is tried again.
    /// A page that other sessions read a moment ago comes from memory ([`super::pages`]).
    fn replay(
        &mut self,
        room_id: RoomId,
        generation: u64,
        after: MessageId,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if let Some(page) = self.state.hub.pages().covering(room_id, after) {
            // The next step runs once the socket has taken this one, as after a read.
            ctx.run_later(Duration::ZERO, move |act, ctx| {
                act.replayed(room_id, generation, Ok((page, true)), ctx)
            });
            return;
        }
        let db = self.state.db.clone();
        let epoch = self.state.hub.pages().epoch();
        let fut = async move {
            db.run(move |conn| {
                let page = messages::after(conn, Some(room_id), after, None, REPLAY_PAGE)?;
                let full = page.len() as i64 == REPLAY_PAGE;
                let events = page
                    .into_iter()
                    .map(|message| {
                        let id = message.id;
                        message_event(id, frame_text(&ServerFrame::Message { message }))
                    })
                    .collect();
                Ok((Arc::new(Page::new(after, events)), full))
            })
            .await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            if let Ok((page, true)) = &res {
                act.state.hub.pages().keep(room_id, page.clone(), epoch);
            }
            if let Err(e) = &res {
                e.log("reading messages to catch up failed");
            }
            act.replayed(room_id, generation, res.map_err(|_| after), ctx)
        }));
    }

    /// One page of a replay is here (or its read failed, from `Err(after)`): sends it, then
    /// reads on, or goes live.
    fn replayed(
        &mut self,
        room_id: RoomId,
        generation: u64,
        page: Result<(Arc<Page>, bool), MessageId>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let timeout = Duration::from_millis(self.settings().client_timeout_ms);
        let now = Instant::now();
        let Some(joined) = self
            .rooms
            .get_mut(&room_id)
            .filter(|j| j.generation == generation)
        else {
            return;
        };
        let (page, full) = match page {
            Ok(page) => page,
            Err(after) => {
                if joined.seam.stuck(timeout, now) {
                    return self.too_slow(ctx, room_id, "its catch-up made no progress");
                }
                ctx.run_later(REPLAY_RETRY, move |act, ctx| {
                    act.replay(room_id, generation, after, ctx)
                });
                return;
            }
        };
        let (frames, next) = joined.seam.page(&page.events, full, now);
        for frame in frames {
            ctx.text(frame);
        }
        if let Next::Read(after) = next {
            self.replay(room_id, generation, after, ctx);
        }
    }

    /// The session fell behind its room's ring: it reads what it missed from the database
    /// (holding live events meanwhile), then goes on live. Already catching up: the read
    /// goes on past what the ring lost.
    fn fall_behind(&mut self, room_id: RoomId, missed: u64, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(joined) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let Some(after) = joined.seam.fell_behind(Instant::now()) else {
            return;
        };
        tracing::debug!(session = self.id, %room_id, missed, "fell behind the room: catching up");
        self.state.metrics.session_catchups.inc();
        let generation = joined.generation;
        self.replay(room_id, generation, after, ctx);
    }

    fn leave(&mut self, room_id: RoomId, ctx: &mut ws::WebsocketContext<Self>) {
        self.joining.remove(&room_id);
        match self.rooms.remove(&room_id) {
            Some(joined) => {
                ctx.cancel_future(joined.stream);
                joined.room.do_send(Unsubscribe { session: self.id });
            }
            None => self.error(
                ctx,
                ErrorKind::NotFound,
                format!("not in room {room_id}"),
                None,
            ),
        }
    }

    fn post(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        body: String,
        client_id: Option<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let (post, client_id) =
            match crate::posting::check(&self.state, &user, room_id, body, client_id) {
                Ok(checked) => checked,
                Err(refused) => return self.api_error(ctx, &refused.error, refused.client_id),
            };
        let message = match post {
            Post::Command { body, parsed } => {
                return self.command(user, room_id, body, parsed, client_id, ctx);
            }
            Post::Message(message) => message,
        };
        if self.may_post.contains(&room_id) {
            return self.submit(message, ctx);
        }
        // First post to a room not joined: check it, holding back this session's later
        // frames meanwhile (`wait`), so that its messages are still stored in order.
        let state = self.state.clone();
        let fut = async move { crate::posting::may_post(&state, room_id, user.id).await };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(()) => {
                act.may_post.insert(room_id);
                act.submit(message, ctx);
            }
            Err(e) => act.api_error(ctx, &e, client_id),
        }));
    }

    /// Runs a chat command: a notice for this session alone, or a stored message and an ack.
    fn command(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        body: String,
        parsed: Result<Command, CommandError>,
        client_id: Option<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let state = self.state.clone();
        let known = self.may_post.contains(&room_id);
        let fut = async move {
            if !known {
                crate::posting::may_post(&state, room_id, user.id).await?;
            }
            crate::posting::dispatch(&state, &user, room_id, &body, parsed).await
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Outcome::Notice(body)) => {
                let notice = ServerFrame::Notice {
                    room_id,
                    body,
                    client_id,
                };
                act.send(ctx, &notice);
            }
            Ok(Outcome::Stored(stored)) => {
                act.may_post.insert(room_id);
                let ack = ServerFrame::Ack {
                    client_id,
                    message_id: stored.message.id,
                };
                act.send(ctx, &ack);
            }
            Err(e) => act.api_error(ctx, &e, client_id),
        }));
    }

    /// Queues a message with the writer now; acks once it is committed. When the writer's
    /// queue is full, this session reads no further frames until there is room: the client
    /// feels TCP backpressure, and its messages keep their order.
    fn submit(&mut self, message: NewMessage, ctx: &mut ws::WebsocketContext<Self>) {
        let client_id = message.client_id.clone();
        match self.state.writer.try_queue(message) {
            Ok(answer) => self.ack_when_stored(answer, client_id, ctx),
            Err(Queued::Stopped(e)) => self.api_error(ctx, &e, client_id),
            Err(Queued::Full(message)) => {
                let writer = self.state.writer.clone();
                let fut = async move { writer.queue(message).await };
                ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
                    Ok(answer) => act.ack_when_stored(answer, client_id, ctx),
                    Err(e) => act.api_error(ctx, &e, client_id),
                }));
            }
        }
    }

    fn ack_when_stored(
        &mut self,
        answer: Answer,
        client_id: Option<String>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        ctx.spawn(
            answer
                .stored()
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Ok(stored) => {
                        let ack = ServerFrame::Ack {
                            client_id,
                            message_id: stored.message.id,
                        };
                        act.send(ctx, &ack);
                    }
                    Err(e) => act.api_error(ctx, &e, client_id),
                }),
        );
    }

    fn typing(&mut self, user: AuthUser, room_id: RoomId, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(joined) = self.rooms.get(&room_id) else {
            return self.error(
                ctx,
                ErrorKind::NotFound,
                format!("join room {room_id} first"),
                None,
            );
        };
        let now = Instant::now();
        if self
            .typing_at
            .get(&room_id)
            .is_some_and(|at| now.duration_since(*at) < TYPING_EVERY)
        {
            return;
        }
        self.typing_at.insert(room_id, now);
        joined.room.do_send(Typing {
            user: user.id,
            username: user.username,
            relay: true,
        });
    }

    fn fragment(&mut self, item: actix_http::ws::Item, ctx: &mut ws::WebsocketContext<Self>) {
        match item {
            actix_http::ws::Item::FirstText(bytes) => self.fragments = Some(bytes.to_vec()),
            actix_http::ws::Item::FirstBinary(_) => {
                self.fragments = None;
                self.error(
                    ctx,
                    ErrorKind::InvalidRequest,
                    "frames are JSON text, not binary",
                    None,
                );
            }
            actix_http::ws::Item::Continue(bytes) => {
                if let Some(buf) = &mut self.fragments {
                    buf.extend_from_slice(&bytes);
                }
            }
            actix_http::ws::Item::Last(bytes) => {
                if let Some(mut buf) = self.fragments.take() {
                    buf.extend_from_slice(&bytes);
                    match String::from_utf8(buf) {
                        Ok(text) => self.text(&text, ctx),
                        Err(_) => {
                            self.error(ctx, ErrorKind::MalformedJson, "frames are UTF-8 text", None)
                        }
                    }
                }
            }
        }
        if self
            .fragments
            .as_ref()
            .is_some_and(|b| b.len() > MAX_FRAME_BYTES)
        {
            self.fragments = None;
            self.error(
                ctx,
                ErrorKind::PayloadTooLarge,
                format!("frames hold at most {MAX_FRAME_BYTES} bytes"),
                None,
            );
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
            Ok(ws::Message::Continuation(item)) => self.fragment(item, ctx),
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
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                return self.fall_behind(room_id, missed, ctx);
            }
        };
        if joined.seam.stuck(timeout, Instant::now()) {
            return self.too_slow(ctx, room_id, "its catch-up made no progress");
        }
        if let Some(frame) = joined.seam.live_event(&event) {
            ctx.text(frame);
        }
    }

    /// The room's actor stopped; the session carries on.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl Handler<Signal> for WsSession {
    type Result = ();

    fn handle(&mut self, signal: Signal, ctx: &mut Self::Context) {
        match signal {
            Signal::Shutdown => self.close(ctx, CloseCode::Away, "server shutting down"),
            Signal::RoomAdded(room) => self.send(ctx, &ServerFrame::Room { room }),
            Signal::Revoked(reason) => self.close(ctx, CloseCode::Policy, &reason),
            Signal::RoomDeleted(room_id) => {
                self.may_post.remove(&room_id);
                if let Some(old) = self.rooms.remove(&room_id) {
                    ctx.cancel_future(old.stream);
                    old.room
                        .do_send(super::room::Unsubscribe { session: self.id });
                }
                self.send(ctx, &ServerFrame::RoomDeleted { room_id });
            }
        }
    }
}
