//! `/api/rooms` and `/api/dms`: public rooms, direct conversations and who may see them.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::rooms::{self, NewRoom};
use crate::db::users;
use crate::error::{ApiError, ApiResult, is_unique_violation};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use natter_shared::limits::BOT_USERNAME;
use natter_shared::{CreateRoom, ErrorKind, OpenDirect, Room, RoomId, RoomName, UserId, Username};

/// Every public room, then the caller's direct rooms.
#[utoipa::path(
    get,
    operation_id = "rooms_list",
    path = "/api/rooms",
    tag = "rooms",
    responses(
        (status = 200, description = "the rooms", body = Vec<natter_shared::Room>),
        super::docs::Unauthorized,
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> ApiResult<web::Json<Vec<Room>>> {
    let rooms = state
        .db
        .run(move |conn| {
            let mut all = rooms::list_public(conn)?;
            all.extend(rooms::list_direct(conn, user.id)?);
            Ok(all)
        })
        .await?;
    Ok(web::Json(rooms))
}

/// Creates a public room.
#[utoipa::path(
    post,
    operation_id = "rooms_create",
    path = "/api/rooms",
    tag = "rooms",
    request_body = natter_shared::CreateRoom,
    responses(
        (status = 201, description = "created", body = natter_shared::Room),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 409, description = "a room of that name exists", body = natter_shared::ErrorBody),
        (status = 422, description = "an invalid room name", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: super::body::Body<CreateRoom>,
) -> ApiResult<HttpResponse> {
    let name = RoomName::parse(body.into_inner().name)?;
    let room = state
        .db
        .run(move |conn| {
            let new = NewRoom {
                kind: rooms::PUBLIC,
                name: Some(name.as_str()),
                name_key: Some(&name.key()),
                direct_key: None,
                created_by: Some(user.id.0),
                created_at: Utc::now().naive_utc(),
            };
            match rooms::insert(conn, &new) {
                Ok(row) => Ok(rooms::public_room(row)),
                Err(e) if is_unique_violation(&e) => Err(ApiError::new(
                    ErrorKind::RoomExists,
                    format!("a room named '{name}' exists"),
                )),
                Err(e) => Err(e.into()),
            }
        })
        .await?;
    tracing::info!(room_id = %room.id, "room created");
    state.hub.announce_room(None, &room);
    Ok(HttpResponse::Created().json(room))
}

/// One room, if the caller may see it.
#[utoipa::path(
    get,
    operation_id = "rooms_get",
    path = "/api/rooms/{id}",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    responses(
        (status = 200, description = "the room", body = natter_shared::Room),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 404, description = "no such room, or not the caller's", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<web::Json<Room>> {
    let room = state
        .visible_room(RoomId(path.into_inner()), user.id)
        .await?;
    Ok(web::Json(room))
}

/// The direct room of the caller and `username`, made on first use: 201 then, 200 after.
#[utoipa::path(
    post,
    operation_id = "rooms_open_direct",
    path = "/api/dms",
    tag = "rooms",
    request_body = natter_shared::OpenDirect,
    responses(
        (status = 200, description = "it existed", body = natter_shared::Room),
        (status = 201, description = "made now", body = natter_shared::Room),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 404, description = "no such user", body = natter_shared::ErrorBody),
        (status = 422, description = "an invalid username, or oneself", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn open_direct(
    state: web::Data<AppState>,
    user: AuthUser,
    body: super::body::Body<OpenDirect>,
) -> ApiResult<HttpResponse> {
    let peer_name = Username::parse(body.into_inner().username)?;
    let room = state
        .db
        .run(move |conn| {
            let peer = users::find_by_key(conn, &peer_name.key())?
                .filter(|p| p.is_active && p.username != BOT_USERNAME)
                .ok_or_else(|| ApiError::not_found(format!("user '{peer_name}'")))?;
            if peer.id == user.id.0 {
                return Err(ApiError::new(
                    ErrorKind::CannotMessageSelf,
                    "a direct conversation needs another user",
                ));
            }
            let (id, created) =
                rooms::open_direct(conn, user.id, UserId(peer.id), Utc::now().naive_utc())?;
            Ok((
                rooms::direct_room(id, peer.username),
                created,
                UserId(peer.id),
            ))
        })
        .await?;
    let (room, created, peer) = (room.0, room.1, room.2);
    let mut res = if created {
        let theirs = rooms::direct_room(room.id.0, user.username.clone());
        state.hub.announce_room(Some(peer), &theirs);
        state.hub.announce_room(Some(user.id), &room);
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(room))
}

/// `DELETE /api/rooms/{id}`: an admin deletes a room and its messages; every socket hears
/// of it and leaves it.
#[utoipa::path(
    delete,
    operation_id = "rooms_delete",
    path = "/api/rooms/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "the room id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "not an admin", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    if !user.is_admin {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only admins may delete rooms",
        ));
    }
    let room = RoomId(path.into_inner());
    let deleted = state
        .db
        .run(move |conn| Ok(rooms::delete(conn, room)?))
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!("room {room}")));
    }
    tracing::info!(%room, by = %user.id, "room deleted");
    state.hub.room_deleted(room);
    Ok(HttpResponse::NoContent().finish())
}
