//! `read` frames: the user read a room up to a message. The marker is stored with others
//! ([`crate::reads`]); every socket of the user, this one too, then hears a `read` frame.

use super::WsSession;
use crate::auth::AuthUser;
use actix::prelude::*;
use actix_web_actors::ws;
use natter_shared::{MessageId, RoomId};

impl WsSession {
    pub(super) fn read(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        message_id: MessageId,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
        if let Err(e) = crate::api::check_reads(&self.state, user.id) {
            return self.api_error(ctx, &e, None);
        }
        let state = self.state.clone();
        let fut = async move { crate::reads::mark(&state, user.id, room_id, message_id).await };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            // A marker that moved comes back as a `read` frame to every socket; one that did
            // not (an older message) needs no answer.
            if let Err(e) = res {
                act.api_error(ctx, &e, None);
            }
        }));
    }
}
