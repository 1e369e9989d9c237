//! A member's own state in a room: how far they have read, and when they hear of it.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::rooms;
use crate::error::{ApiError, ApiResult};
use actix_web::web;
use natter_shared::{ErrorKind, MarkRead, ReadMarker, Room, RoomId, RoomSettings};

/// Moves the caller's read marker forward (an older message changes nothing). Every socket
/// of theirs, on every node, hears a `read` frame once the marker is stored.
#[utoipa::path(
    post,
    operation_id = "rooms_read",
    path = "/api/rooms/{id}/read",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    request_body = natter_shared::MarkRead,
    responses(
        (status = 200, description = "where the marker is now: this message, or a later one it had reached", body = natter_shared::ReadMarker),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 403, description = "not_member: a public room the caller has not joined", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room (or not the caller's), or no such message in it", body = natter_shared::ErrorBody),
        (status = 429, description = "too many reads; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn read(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: super::body::Body<MarkRead>,
) -> ApiResult<web::Json<ReadMarker>> {
    let room = RoomId(path.into_inner());
    super::check_reads(&state, user.id)?;
    let marker = crate::reads::mark(&state, user.id, room, body.into_inner().message_id).await?;
    Ok(web::Json(marker))
}

/// Sets the caller's notification level for a room: `all`, `mentions` or `none` (muted).
/// Their other sockets hear the room again, with the level.
#[utoipa::path(
    patch,
    operation_id = "rooms_settings",
    path = "/api/rooms/{id}/settings",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    request_body = natter_shared::RoomSettings,
    responses(
        (status = 200, description = "the room with the caller's level", body = natter_shared::Room),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 403, description = "not_member: a public room the caller has not joined", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room (or not the caller's)", body = natter_shared::ErrorBody),
        (status = 429, description = "changed too fast; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn settings(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: super::body::Body<RoomSettings>,
) -> ApiResult<web::Json<Room>> {
    let room = RoomId(path.into_inner());
    let notify = body.into_inner().notify;
    super::rooms::check_membership_rate(&state, &user)?;
    let me = user.id;
    let mut view = state
        .db
        .run(move |conn| {
            let view = rooms::visible(conn, room, me)?
                .ok_or_else(|| ApiError::not_found(format!("room {room}")))?;
            if !rooms::set_notify(conn, room, me, notify)? {
                return Err(ApiError::new(
                    ErrorKind::NotMember,
                    format!("join room {room} to choose how you hear of it"),
                ));
            }
            Ok(view)
        })
        .await?;
    state.hub.lists().forget_person(me);
    view.notify = Some(notify);
    state.hub.announce_room(Some(user.id), &view);
    Ok(web::Json(view))
}
