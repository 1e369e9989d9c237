//! Sends from the socket: checked by [`crate::posting`], queued with the writer in the order
//! they came, acknowledged once stored; chat commands.

use super::WsSession;
use crate::auth::AuthUser;
use crate::bot::Outcome;
use crate::db::writer::{Answer, NewMessage, Queued};
use crate::posting::Post;
use actix::prelude::*;
use actix_web_actors::ws;
use natter_shared::RoomId;
use natter_shared::commands::{Command, CommandError};
use natter_shared::ws::ServerFrame;

impl WsSession {
    pub(super) fn post(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        body: String,
        client_id: Option<String>,
        extras: crate::posting::Extras,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        let (post, client_id) =
            match crate::posting::check(&self.state, &user, room_id, body, client_id, &extras) {
                Ok(checked) => checked,
                Err(refused) => return self.api_error(ctx, &refused.error, refused.client_id),
            };
        let message = match post {
            Post::Command { body, parsed } => {
                return self.command(user, room_id, body, parsed, client_id, ctx);
            }
            Post::Message(message) => message,
        };
        let known = self.may_post.contains(&room_id);
        if known && extras.is_empty() {
            return self.submit(message, ctx);
        }
        // First post to a room not joined, or a reply, or files: check it, holding back
        // this session's later frames meanwhile (`wait`), so that its messages are still
        // stored in order.
        let state = self.state.clone();
        let fut = async move {
            if !known {
                crate::posting::may_post(&state, room_id, &user).await?;
            }
            crate::posting::complete(&state, message, extras).await
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
            Ok(message) => {
                act.may_post.insert(room_id);
                act.submit(message, ctx);
            }
            Err(e) => act.api_error(ctx, &e, client_id),
        }));
    }

    /// Runs a chat command: a notice for this session alone, or a stored message and an ack.
    pub(super) fn command(
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
        let command_id = client_id.clone();
        let fut = async move {
            if !known {
                crate::posting::may_post(&state, room_id, &user).await?;
            }
            crate::posting::dispatch(&state, &user, room_id, &body, parsed, command_id).await
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
    pub(super) fn submit(&mut self, message: NewMessage, ctx: &mut ws::WebsocketContext<Self>) {
        let client_id = message.client_id.clone();
        match self.state.writer.try_queue(message) {
            Ok(answer) => self.ack_when_stored(answer, client_id, ctx),
            Err(Queued::Stopped(e)) => self.api_error(ctx, &e, client_id),
            Err(Queued::Full(message)) => {
                let writer = self.state.writer.clone();
                let fut = async move { writer.queue(*message).await };
                ctx.wait(fut.into_actor(self).map(move |res, act, ctx| match res {
                    Ok(answer) => act.ack_when_stored(answer, client_id, ctx),
                    Err(e) => act.api_error(ctx, &e, client_id),
                }));
            }
        }
    }

    pub(super) fn ack_when_stored(
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
}
