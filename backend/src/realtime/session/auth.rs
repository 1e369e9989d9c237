//! The auth handshake: a socket opened without a token sends an `auth` frame first.

use super::WsSession;
use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode};
use natter_shared::ErrorKind;
use natter_shared::ws::ClientFrame;

impl WsSession {
    pub(super) fn authenticate(
        &mut self,
        frame: ClientFrame,
        ctx: &mut ws::WebsocketContext<Self>,
    ) {
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
                if !act.slot.sign_in(user.id) {
                    let e = crate::realtime::too_many_sockets(&act.state);
                    act.api_error(ctx, &e, None);
                    return act.close(ctx, CloseCode::Again, "too many sockets for this user");
                }
                act.user = Some(user);
                act.ready(ctx);
            }
            Err(e) => {
                act.api_error(ctx, &e, None);
                act.close(ctx, CloseCode::Policy, "authentication failed");
            }
        }));
    }
}
