//! Joining and leaving rooms, and reading what was missed from the database: after a `join`
//! with `since`, and when the session falls behind the room's ring (the rules are
//! [`crate::realtime::seam`]'s; this is the reading and the writing).

use super::{Joined, RoomItem, WsSession, frame_text};
use crate::auth::AuthUser;
use crate::db::messages;
use crate::error::ApiError;
use crate::realtime::pages::{Page, message_event};
use crate::realtime::room::{Subscribe, Subscription, Unsubscribe};
use crate::realtime::seam::{Next, Seam};
use natter_shared::ws::ServerFrame;
use natter_shared::{ErrorKind, MessageId, RoomId};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// Messages replayed per database read when a client joins with `since` or catches up.
const REPLAY_PAGE: i64 = 500;
/// How long a session waits before reading again after a failed read.
const REPLAY_RETRY: Duration = Duration::from_millis(200);
use actix::prelude::*;
use actix_web_actors::ws;

impl WsSession {
    pub(super) fn join(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        since: Option<MessageId>,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let max = self.settings().max_rooms_per_socket as usize;
        let counted = self.rooms.contains_key(&room_id) || self.joining.contains_key(&room_id);
        if max != 0 && !counted && self.rooms.len() + self.joining.len() >= max {
            let e = ApiError::limit_reached(format!(
                "a socket joins at most {max} rooms at once: leave one first"
            ));
            return self.api_error(ctx, &e, None);
        }
        self.next_join += 1;
        let generation = self.next_join;
        self.joining.insert(room_id, generation);
        let state = self.state.clone();
        let session = self.id;
        let fut = async move {
            let member = state.visible_room(room_id, user.id).await?.role.is_some();
            // A room actor that stopped as we found it answers nothing: start another.
            for _ in 0..3 {
                let room = state.hub.room(room_id);
                let sub = Subscribe {
                    session,
                    user: user.id,
                    username: user.username.clone(),
                };
                if let Ok(subscription) = room.send(sub).await {
                    return Ok((room, subscription, member));
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
                Ok((room, subscription, member)) => {
                    // A public room watched before joining it: the first post joins.
                    if member {
                        act.may_post.insert(room_id);
                    }
                    act.joined(room_id, since, generation, room, subscription, ctx)
                }
                Err(e) => act.api_error(ctx, &e, None),
            }
        }));
    }

    pub(super) fn joined(
        &mut self,
        room_id: RoomId,
        since: Option<MessageId>,
        generation: u64,
        room: Addr<crate::realtime::room::Room>,
        subscription: Subscription,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if let Some(old) = self.rooms.remove(&room_id) {
            ctx.cancel_future(old.stream);
        }
        let events = subscription.events.map(move |item| RoomItem(room_id, item));
        let stream = ctx.add_stream(events);
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
    pub(super) fn replay(
        &mut self,
        room_id: RoomId,
        generation: u64,
        after: MessageId,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if let Some(page) = self.state.hub.pages().covering(room_id, after) {
            // The next step runs once the socket has taken this one, as after a read.
            ctx.run_later(Duration::ZERO, move |act, ctx| {
                act.replayed(room_id, generation, after, Some((page, true)), ctx)
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
            act.replayed(room_id, generation, after, res.ok(), ctx)
        }));
    }

    /// The page read after `after` is here (with whether it was full), or the read failed
    /// (`None`): sends it, then reads on or goes live; or tries the read again.
    pub(super) fn replayed(
        &mut self,
        room_id: RoomId,
        generation: u64,
        after: MessageId,
        page: Option<(Arc<Page>, bool)>,
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
            Some(page) => page,
            None => {
                if joined.seam.stuck(timeout, || now) {
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
    pub(super) fn fall_behind(
        &mut self,
        room_id: RoomId,
        missed: u64,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
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

    pub(super) fn leave(&mut self, room_id: RoomId, ctx: &mut ws::WebsocketContext<Self>) {
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
}
