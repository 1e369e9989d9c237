//! `/api/rooms` and `/api/dms`: public rooms, direct conversations and who may see them.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::rooms::{self, NewRoom};
use crate::db::users;
use crate::error::{ApiError, ApiResult, is_unique_violation};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use natter_shared::limits::{BOT_USERNAME, MAX_PAGE};
use natter_shared::{CreateRoom, ErrorKind, OpenDirect, Room, RoomId, RoomName, UserId, Username};

/// Every public room, then the caller's direct rooms.
#[derive(Debug, serde::Deserialize)]
pub struct RoomsQuery {
    limit: Option<u32>,
    after: Option<i64>,
}

/// A page of the rooms the caller sees (public rooms and their direct rooms), by id: at most
/// `limit` (100 by default and at most) with ids above `after`. A page shorter than `limit`
/// is the last; the next page starts after the last id of this one.
#[utoipa::path(
    get,
    operation_id = "rooms_list",
    path = "/api/rooms",
    tag = "rooms",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 100)"),
        ("after" = Option<i64>, Query, description = "only rooms with a larger id: the last id of the previous page")
    ),
    responses(
        (status = 200, description = "a page of rooms, by id", body = Vec<natter_shared::Room>),
        (status = 400, description = "a malformed query", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 422, description = "invalid_limit", body = natter_shared::ErrorBody),
        (status = 429, description = "too many reads; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<RoomsQuery>,
) -> ApiResult<web::Json<Vec<Room>>> {
    let RoomsQuery { limit, after } = query.into_inner();
    let limit = super::page_limit(limit.unwrap_or(MAX_PAGE))?;
    state
        .limits
        .reads
        .check(user.id)
        .map_err(|wait| ApiError::throttled("reads", wait))?;
    let rooms = state
        .db
        .run(move |conn| Ok(rooms::page_for(conn, user.id, after.unwrap_or(0), limit)?))
        .await?;
    Ok(web::Json(rooms))
}

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
        (status = 403, description = "limit_reached: the caller created as many rooms as one user may", body = natter_shared::ErrorBody),
        (status = 409, description = "a room of that name (or one that looks like it) exists", body = natter_shared::ErrorBody),
        (status = 422, description = "an invalid room name", body = natter_shared::ErrorBody),
        (status = 429, description = "rooms created too fast; see Retry-After", body = natter_shared::ErrorBody),
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
    if !user.is_admin {
        state
            .limits
            .creations
            .check(user.id)
            .map_err(|wait| ApiError::throttled("rooms and conversations created", wait))?;
    }
    let max = i64::from(state.settings.max_rooms_per_user);
    let room = state
        .db
        .run(move |conn| {
            if !user.is_admin && max > 0 && rooms::created_by(conn, user.id, rooms::PUBLIC)? >= max
            {
                return Err(ApiError::limit_reached(format!(
                    "you have created {max} rooms, as many as one user may"
                )));
            }
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
        (status = 403, description = "limit_reached: the caller started as many conversations as one user may", body = natter_shared::ErrorBody),
        (status = 404, description = "no such user", body = natter_shared::ErrorBody),
        (status = 422, description = "an invalid username, or oneself", body = natter_shared::ErrorBody),
        (status = 429, description = "conversations started too fast; see Retry-After", body = natter_shared::ErrorBody),
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
    let max = i64::from(state.settings.max_direct_per_user);
    let limits = state.clone();
    let room =
        state
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
                let new = rooms::find_direct(conn, user.id, UserId(peer.id))?.is_none();
                if new {
                    if max > 0 && rooms::created_by(conn, user.id, rooms::DIRECT)? >= max {
                        return Err(ApiError::limit_reached(format!(
                            "you have started {max} conversations, as many as one user may"
                        )));
                    }
                    limits.limits.creations.check(user.id).map_err(|wait| {
                        ApiError::throttled("rooms and conversations created", wait)
                    })?;
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
    let admin = user.id;
    // A direct room an admin is not in does not exist for them, for deleting too.
    let deleted = state
        .db
        .run(move |conn| {
            Ok(rooms::visible(conn, room, admin)?.is_some() && rooms::delete(conn, room)?)
        })
        .await?;
    if !deleted {
        return Err(ApiError::not_found(format!("room {room}")));
    }
    tracing::info!(%room, by = %user.id, "room deleted");
    state.hub.room_deleted(room);
    Ok(HttpResponse::NoContent().finish())
}
