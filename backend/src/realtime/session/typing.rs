//! Typing: relayed to the room at most once a second per session and room.

use super::WsSession;
use crate::auth::AuthUser;
use crate::realtime::room::Typing;
use natter_shared::{ErrorKind, RoomId};
use std::time::{Duration, Instant};

/// A typing event is relayed at most this often per session and room.
const TYPING_EVERY: Duration = Duration::from_secs(1);
use actix_web_actors::ws;

impl WsSession {
    pub(super) fn typing(
        &mut self,
        user: AuthUser,
        room_id: RoomId,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
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
}
