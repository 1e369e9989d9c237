//! `/api/rooms` and `/api/dms`: rooms of four kinds, the directory, and membership.
//!
//! Who may do what (docs/API.md says the same for clients):
//! - any signed-in user reads, joins and posts in a public room (posting joins it);
//! - a private room, a direct or a group conversation exists only for its members: 404 for
//!   everyone else, on every path;
//! - any member of a public or private room adds people to it;
//! - owners and admins rename a room, set its topic and remove members;
//! - direct and group conversations have a fixed set of people: nobody is added or removed
//!   (a different set is a different conversation); a group member may leave it.

use super::{check_reads, page_limit};
use crate::AppState;
use crate::auth::{AuthUser, Bearer};
use crate::db::rooms::{self, MEMBER, NAMED, NewRoom, OWNER, PUBLIC};
use crate::db::{DbConnection, users, write_transaction};
use crate::error::{ApiError, ApiResult, is_unique_violation};
use crate::room_lists::{page_from_database, page_from_memory};
use actix_web::{HttpResponse, web};
use chrono::{NaiveDateTime, Utc};
use natter_shared::limits::{BOT_USERNAME, GROUP_PEOPLE, MAX_PAGE};
use natter_shared::ws::{MemberEvent, ServerFrame};
use natter_shared::{
    AddMember, CreateRoom, ErrorKind, Member, MembersPage, OpenDirect, Role, Room, RoomId,
    RoomKind, RoomName, Topic, UpdateRoom, UserId, Username,
};

#[derive(Debug, serde::Deserialize)]
pub struct RoomsQuery {
    limit: Option<u32>,
    after: Option<i64>,
}

#[derive(Debug, serde::Deserialize)]
pub struct DirectoryQuery {
    q: Option<String>,
    limit: Option<u32>,
    after: Option<i64>,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

pub(super) fn check_membership_rate(state: &AppState, user: &AuthUser) -> ApiResult<()> {
    if user.is_admin {
        return Ok(());
    }
    state
        .limits
        .memberships
        .check(user.id)
        .map_err(|wait| ApiError::throttled("joins, additions and removals", wait))
}

/// Refuses one more membership for `user` past the per-user cap.
fn check_membership_cap(conn: &mut DbConnection, max: u32, user: UserId) -> ApiResult<()> {
    let max = i64::from(max);
    if max > 0 && rooms::memberships(conn, user)? >= max {
        return Err(ApiError::limit_reached(format!(
            "a user may be a member of at most {max} rooms: leave one first"
        )));
    }
    Ok(())
}

/// The room and the caller's role in it, if the caller may see it; 404 otherwise.
fn seen(
    conn: &mut DbConnection,
    room: RoomId,
    user: UserId,
) -> ApiResult<(rooms::RoomRow, Option<String>)> {
    rooms::with_role(conn, room, user)?
        .filter(|(row, role)| rooms::may_see(&row.kind, role.as_deref()))
        .ok_or_else(|| ApiError::not_found(format!("room {room}")))
}

fn member_frame(room: RoomId, event: MemberEvent, user: UserId, username: &str) -> ServerFrame {
    ServerFrame::Member {
        room_id: room,
        event,
        user_id: user,
        username: username.to_owned(),
    }
}

/// A page of the rooms the caller is a member of, every kind, by id: at most `limit` (100 by
/// default and at most) with ids above `after`. A page shorter than `limit` is the last; the
/// next page starts after the last id of this one.
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
        (status = 200, description = "a page of the caller's rooms, by id", body = Vec<natter_shared::Room>),
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
    bearer: Bearer,
    query: web::Query<RoomsQuery>,
) -> ApiResult<web::Json<Vec<Room>>> {
    let signed = state.auth.signed_user(&bearer.0)?;
    let RoomsQuery { limit, after } = query.into_inner();
    let limit = page_limit(limit.unwrap_or(MAX_PAGE))?;
    check_reads(&state, signed.id())?;
    let (after, limit) = (after.unwrap_or(0), usize::try_from(limit).unwrap_or(0));
    // From memory while nothing shown has changed; else one trip to the database.
    if let Some(rooms) = page_from_memory(state.hub.lists(), &state.hub, signed, after, limit) {
        state.metrics.lists_from_memory.inc();
        return Ok(web::Json(rooms));
    }
    let (hub, lists) = (state.hub.clone(), state.hub.lists().clone());
    let rooms = state
        .db
        .run(move |conn| page_from_database(conn, &lists, &hub, signed, after, limit))
        .await?;
    Ok(web::Json(rooms))
}

/// The directory: public rooms by id, those whose name contains `q` (ignoring case) if
/// given, with member counts and the caller's role (absent: not a member).
#[utoipa::path(
    get,
    operation_id = "rooms_directory",
    path = "/api/rooms/directory",
    tag = "rooms",
    params(
        ("q" = Option<String>, Query, description = "part of the name, any case"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 100)"),
        ("after" = Option<i64>, Query, description = "only rooms with a larger id: the last id of the previous page")
    ),
    responses(
        (status = 200, description = "a page of public rooms, by id", body = Vec<natter_shared::Room>),
        (status = 400, description = "a malformed query", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 422, description = "invalid_limit", body = natter_shared::ErrorBody),
        (status = 429, description = "too many reads; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn directory(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<DirectoryQuery>,
) -> ApiResult<web::Json<Vec<Room>>> {
    let DirectoryQuery { q, limit, after } = query.into_inner();
    let limit = page_limit(limit.unwrap_or(MAX_PAGE))?;
    check_reads(&state, user.id)?;
    let q = q.map(|q| natter_shared::names::name_key(&q));
    let rooms = state
        .db
        .run(move |conn| {
            Ok(rooms::directory(
                conn,
                user.id,
                q.as_deref(),
                after.unwrap_or(0),
                limit,
            )?)
        })
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
        (status = 201, description = "created; the caller is its owner", body = natter_shared::Room),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 403, description = "limit_reached: the caller created as many rooms as one user may, or is in as many as one user may be", body = natter_shared::ErrorBody),
        (status = 409, description = "a room of that name (or one that looks like it) exists", body = natter_shared::ErrorBody),
        (status = 422, description = "an invalid room name or topic", body = natter_shared::ErrorBody),
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
    let CreateRoom {
        name,
        private,
        topic,
    } = body.into_inner();
    let name = RoomName::parse(name)?;
    let topic = topic.map(Topic::parse).transpose()?.flatten();
    if !user.is_admin {
        state
            .limits
            .creations
            .check(user.id)
            .map_err(|wait| ApiError::throttled("rooms and conversations created", wait))?;
    }
    let max = i64::from(state.settings.max_rooms_per_user);
    let cap = state.settings.max_memberships_per_user;
    let creator = user.clone();
    let room = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                create_in(conn, cap, &creator, &name, private, topic.as_ref(), max)
            })
        })
        .await?;
    state.hub.lists().forget_person(user.id);
    tracing::info!(room_id = %room.id, kind = ?room.kind, "room created");
    state.hub.announce_room(Some(user.id), &room);
    Ok(HttpResponse::Created().json(room))
}

fn create_in(
    conn: &mut DbConnection,
    cap: u32,
    user: &AuthUser,
    name: &RoomName,
    private: bool,
    topic: Option<&Topic>,
    max: i64,
) -> ApiResult<Room> {
    if !user.is_admin && max > 0 && rooms::created_by(conn, user.id, NAMED)? >= max {
        return Err(ApiError::limit_reached(format!(
            "you have created {max} rooms, as many as one user may"
        )));
    }
    check_membership_cap(conn, cap, user.id)?;
    let new = NewRoom {
        kind: if private { rooms::PRIVATE } else { PUBLIC },
        name: Some(name.as_str()),
        name_key: Some(&name.key()),
        direct_key: None,
        topic: topic.map(Topic::as_str),
        created_by: Some(user.id.0),
        created_at: now(),
    };
    let row = match rooms::insert(conn, &new) {
        Ok(row) => row,
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::new(
                ErrorKind::RoomExists,
                format!("a room named '{name}' exists"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    rooms::add_member(conn, RoomId(row.id), user.id, OWNER, now())?;
    let mut row = row;
    row.member_count = 1;
    Ok(rooms::view(row, Some(OWNER), Vec::new()))
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

/// Renames a public or private room or sets its topic (an empty topic clears it): owners and
/// admins. Every member hears of it (a `room` frame).
#[utoipa::path(
    patch,
    operation_id = "rooms_update",
    path = "/api/rooms/{id}",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    request_body = natter_shared::UpdateRoom,
    responses(
        (status = 200, description = "the room as it is now", body = natter_shared::Room),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 403, description = "not an owner of the room (nor an admin)", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room, or not the caller's", body = natter_shared::ErrorBody),
        (status = 409, description = "a room of that name exists", body = natter_shared::ErrorBody),
        (status = 422, description = "an invalid name or topic, or a conversation (they have neither)", body = natter_shared::ErrorBody),
        (status = 429, description = "too many changes; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: super::body::Body<UpdateRoom>,
) -> ApiResult<web::Json<Room>> {
    let room = RoomId(path.into_inner());
    let UpdateRoom { name, topic } = body.into_inner();
    let name = name.map(RoomName::parse).transpose()?;
    let topic = topic.map(Topic::parse).transpose()?;
    state
        .limits
        .creations
        .check(user.id)
        .map_err(|wait| ApiError::throttled("room changes", wait))?;
    let admin = user.is_admin;
    let me = user.id;
    let (view, members) = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (row, role) = seen(conn, room, me)?;
                if !row.kind().is_named() {
                    return Err(ApiError::new(
                        ErrorKind::FixedMembers,
                        "a conversation has no name or topic to change",
                    ));
                }
                if role.as_deref() != Some(OWNER) && !admin {
                    return Err(ApiError::new(
                        ErrorKind::Forbidden,
                        "only the room's owners (and admins) change its name and topic",
                    ));
                }
                let key = name.as_ref().map(RoomName::key);
                let named = name
                    .as_ref()
                    .zip(key.as_deref())
                    .map(|(n, k)| (n.as_str(), k));
                let topic = topic.as_ref().map(|t| t.as_ref().map(Topic::as_str));
                rooms::update(conn, room, named, topic).map_err(|e| {
                    if is_unique_violation(&e) {
                        ApiError::new(ErrorKind::RoomExists, "a room of that name exists")
                    } else {
                        e.into()
                    }
                })?;
                let (row, role) = seen(conn, room, me)?;
                let members = rooms::member_roles(conn, room)?;
                Ok((rooms::view(row, role.as_deref(), Vec::new()), members))
            })
        })
        .await?;
    state.hub.lists().forget_room(room);
    tracing::info!(%room, by = %user.id, "room changed");
    for (member, role) in members {
        let mut theirs = view.clone();
        theirs.role = Some(rooms::role(&role));
        state.hub.announce_room(Some(member), &theirs);
    }
    Ok(web::Json(view))
}

/// Joins a public room (joining one already joined changes nothing).
#[utoipa::path(
    post,
    operation_id = "rooms_join",
    path = "/api/rooms/{id}/join",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    responses(
        (status = 200, description = "a member now", body = natter_shared::Room),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "limit_reached: a member of as many rooms as one user may be", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room, or not a public one (a private room is joined by invitation only)", body = natter_shared::ErrorBody),
        (status = 429, description = "joined too fast; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn join(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<web::Json<Room>> {
    let room = RoomId(path.into_inner());
    check_membership_rate(&state, &user)?;
    let view = join_room(&state, &user, room).await?;
    Ok(web::Json(view))
}

/// Makes `user` a member of public room `room` (or finds them one already), telling the room
/// and the user's sockets when they joined now. 404 for a room they may not join.
pub async fn join_room(state: &AppState, user: &AuthUser, room: RoomId) -> ApiResult<Room> {
    let cap = state.settings.max_memberships_per_user;
    let me = user.id;
    // Most callers are members already (every post asks): a read answers them.
    let (row, role) = state.db.run(move |conn| seen(conn, room, me)).await?;
    if let Some(role) = role {
        return Ok(rooms::view(row, Some(&role), Vec::new()));
    }
    if row.kind != PUBLIC {
        return Err(ApiError::not_found(format!("room {room}")));
    }
    let (view, joined) = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                check_membership_cap(conn, cap, me)?;
                let joined = rooms::add_member(conn, room, me, MEMBER, now())?;
                let (row, role) = seen(conn, room, me)?;
                Ok((rooms::view(row, role.as_deref(), Vec::new()), joined))
            })
        })
        .await?;
    if joined {
        state.hub.lists().forget_membership(room, me);
        tracing::debug!(%room, user = %user.id, "joined");
        state.hub.broadcast(
            room,
            member_frame(room, MemberEvent::Joined, user.id, &user.username),
        );
        state.hub.announce_room(Some(user.id), &view);
    }
    Ok(view)
}

/// Leaves a room. The last owner leaving hands ownership to the longest-standing member; an
/// empty private room is kept for admins to delete. A direct conversation cannot be left.
#[utoipa::path(
    post,
    operation_id = "rooms_leave",
    path = "/api/rooms/{id}/leave",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    responses(
        (status = 204, description = "not a member any more"),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 404, description = "no such room, or not a member of it", body = natter_shared::ErrorBody),
        (status = 422, description = "cannot_leave: a direct conversation", body = natter_shared::ErrorBody),
        (status = 429, description = "too many changes; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn leave(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let room = RoomId(path.into_inner());
    check_membership_rate(&state, &user)?;
    let me = user.id;
    let heir = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                let (row, role) = seen(conn, room, me)?;
                if role.is_none() {
                    return Err(ApiError::not_found(format!("membership of room {room}")));
                }
                if row.kind() == RoomKind::Direct {
                    return Err(ApiError::new(
                        ErrorKind::CannotLeave,
                        "a direct conversation cannot be left",
                    ));
                }
                rooms::remove_member(conn, room, me)?;
                Ok(if row.kind().is_named() {
                    rooms::hand_over(conn, room)?
                } else {
                    None
                })
            })
        })
        .await?;
    state.hub.lists().forget_membership(room, me);
    if let Some(heir) = heir {
        state.hub.lists().forget_person(heir);
    }
    tracing::debug!(%room, user = %user.id, "left");
    state.hub.member_removed(room, user.id);
    state.hub.broadcast(
        room,
        member_frame(room, MemberEvent::Left, user.id, &user.username),
    );
    if let Some(heir) = heir {
        announce_owner(&state, room, heir).await;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Tells a new owner's sockets (and the room's) of their role.
async fn announce_owner(state: &AppState, room: RoomId, owner: UserId) {
    tracing::info!(%room, %owner, "ownership handed over");
    if let Ok(view) = state.visible_room(room, owner).await {
        state.hub.announce_room(Some(owner), &view);
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct MembersQuery {
    q: Option<String>,
    limit: Option<u32>,
    after: Option<i64>,
}

/// A page of a room's members by user id, with role and whether online now.
#[utoipa::path(
    get,
    operation_id = "rooms_members",
    path = "/api/rooms/{id}/members",
    tag = "rooms",
    params(
        ("id" = i64, Path, description = "the room id"),
        ("q" = Option<String>, Query, description = "only members whose name starts with this, any case (for completing `@name`)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 100)"),
        ("after" = Option<i64>, Query, description = "only members with a larger user id: `next` of the previous page")
    ),
    responses(
        (status = 200, description = "a page of members", body = natter_shared::MembersPage),
        (status = 400, description = "a malformed id or query", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 404, description = "no such room, or not the caller's", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_limit", body = natter_shared::ErrorBody),
        (status = 429, description = "too many reads; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn members(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    query: web::Query<MembersQuery>,
) -> ApiResult<web::Json<MembersPage>> {
    let room = RoomId(path.into_inner());
    let MembersQuery { q, limit, after } = query.into_inner();
    let limit = page_limit(limit.unwrap_or(MAX_PAGE))?;
    check_reads(&state, user.id)?;
    let rows = state
        .db
        .run(move |conn| {
            seen(conn, room, user.id)?;
            Ok(rooms::members(
                conn,
                room,
                q.as_deref(),
                after.unwrap_or(0),
                limit,
            )?)
        })
        .await?;
    let online = state.hub.online_in(room).await;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|m| m.0))
        .flatten();
    let members = rows
        .into_iter()
        .map(|(id, username, role, joined_at)| Member {
            user_id: UserId(id),
            online: online.contains(&username),
            username,
            role: rooms::role(&role),
            joined_at: joined_at.and_utc(),
        })
        .collect();
    Ok(web::Json(MembersPage { members, next }))
}

/// Adds someone to a public or private room: any member may. They get the room on every
/// socket at once; the room hears `member` `joined`.
#[utoipa::path(
    post,
    operation_id = "rooms_add_member",
    path = "/api/rooms/{id}/members",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id")),
    request_body = natter_shared::AddMember,
    responses(
        (status = 201, description = "a member now", body = natter_shared::Member),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 403, description = "forbidden: the caller is no member of the public room; limit_reached: they are a member of as many rooms as one user may be", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room (or not the caller's), or no such user", body = natter_shared::ErrorBody),
        (status = 409, description = "already_member", body = natter_shared::ErrorBody),
        (status = 422, description = "user_deactivated; fixed_members (a conversation)", body = natter_shared::ErrorBody),
        (status = 429, description = "added too fast; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn add_member(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: super::body::Body<AddMember>,
) -> ApiResult<HttpResponse> {
    let room = RoomId(path.into_inner());
    let who = Username::parse(body.into_inner().username)?;
    check_membership_rate(&state, &user)?;
    let cap = state.settings.max_memberships_per_user;
    let me = user.id;
    let admin = user.is_admin;
    let (view, member) = state
        .db
        .run(move |conn| write_transaction(conn, |conn| add_in(conn, cap, me, admin, room, &who)))
        .await?;
    state.hub.lists().forget_membership(room, member.user_id);
    tracing::info!(%room, user = %member.user_id, by = %user.id, "member added");
    state.hub.broadcast(
        room,
        member_frame(room, MemberEvent::Joined, member.user_id, &member.username),
    );
    state.hub.announce_room(Some(member.user_id), &view);
    Ok(HttpResponse::Created().json(member))
}

fn add_in(
    conn: &mut DbConnection,
    cap: u32,
    me: UserId,
    admin: bool,
    room: RoomId,
    who: &Username,
) -> ApiResult<(Room, Member)> {
    let (mut row, role) = seen(conn, room, me)?;
    if !row.kind().is_named() {
        return Err(ApiError::new(
            ErrorKind::FixedMembers,
            "a conversation's people are fixed: start another one with POST /api/dms",
        ));
    }
    if role.is_none() && !admin {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "join the room first: members add people",
        ));
    }
    let target = users::find_by_key(conn, &who.key())?
        .filter(|u| u.username != BOT_USERNAME)
        .ok_or_else(|| ApiError::not_found(format!("user '{who}'")))?;
    if !target.is_active {
        return Err(ApiError::new(
            ErrorKind::UserDeactivated,
            format!("'{}' is deactivated", target.username),
        ));
    }
    let target_id = UserId(target.id);
    check_membership_cap(conn, cap, target_id)?;
    let joined = now();
    if !rooms::add_member(conn, room, target_id, MEMBER, joined)? {
        return Err(ApiError::new(
            ErrorKind::AlreadyMember,
            format!("'{}' is a member already", target.username),
        ));
    }
    row.member_count += 1;
    let member = Member {
        user_id: target_id,
        username: target.username,
        role: Role::Member,
        joined_at: joined.and_utc(),
        online: false,
    };
    Ok((rooms::view(row, Some(MEMBER), Vec::new()), member))
}

/// Removes a member: owners and admins (anyone may leave instead). The removed member's
/// sockets get `removed` and leave the room at once, on every node; the room hears
/// `member` `removed`. The last owner cannot be removed.
#[utoipa::path(
    delete,
    operation_id = "rooms_remove_member",
    path = "/api/rooms/{id}/members/{user_id}",
    tag = "rooms",
    params(("id" = i64, Path, description = "the room id"), ("user_id" = i64, Path, description = "the member's user id")),
    responses(
        (status = 204, description = "removed"),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "not an owner of the room (nor an admin)", body = natter_shared::ErrorBody),
        (status = 404, description = "no such room (or not the caller's), or no such member", body = natter_shared::ErrorBody),
        (status = 409, description = "last_owner: the room's only owner (they may leave instead)", body = natter_shared::ErrorBody),
        (status = 422, description = "fixed_members: a conversation", body = natter_shared::ErrorBody),
        (status = 429, description = "removed too fast; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn remove_member(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> ApiResult<HttpResponse> {
    let (room, target) = path.into_inner();
    let (room, target) = (RoomId(room), UserId(target));
    check_membership_rate(&state, &user)?;
    let me = user.id;
    let admin = user.is_admin;
    let username = state
        .db
        .run(move |conn| write_transaction(conn, |conn| remove_in(conn, me, admin, room, target)))
        .await?;
    state.hub.lists().forget_membership(room, target);
    tracing::info!(%room, user = %target, by = %user.id, "member removed");
    state.hub.member_removed(room, target);
    state.hub.broadcast(
        room,
        member_frame(room, MemberEvent::Removed, target, &username),
    );
    Ok(HttpResponse::NoContent().finish())
}

fn remove_in(
    conn: &mut DbConnection,
    me: UserId,
    admin: bool,
    room: RoomId,
    target: UserId,
) -> ApiResult<String> {
    let (row, role) = seen(conn, room, me)?;
    if !row.kind().is_named() {
        return Err(ApiError::new(
            ErrorKind::FixedMembers,
            "a conversation's people are fixed: leave it instead",
        ));
    }
    if role.as_deref() != Some(OWNER) && !admin {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only the room's owners (and admins) remove members",
        ));
    }
    let Some((_, target_role)) =
        rooms::with_role(conn, room, target)?.filter(|(_, role)| role.is_some())
    else {
        return Err(ApiError::not_found(format!("member {target}")));
    };
    if target_role.as_deref() == Some(OWNER) && rooms::owners(conn, room)? <= 1 {
        return Err(ApiError::new(
            ErrorKind::LastOwner,
            "the room's only owner cannot be removed: they may leave, handing it on",
        ));
    }
    let username = users::find_by_id(conn, target)?
        .map(|u| u.username)
        .unwrap_or_default();
    rooms::remove_member(conn, room, target)?;
    Ok(username)
}

/// The conversation of the caller and `username` (a direct room), or of the caller and
/// `usernames` (2 to 8 others: a group), made on first use: 201 then, 200 after. The same
/// people in any order get the same conversation back.
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
        (status = 422, description = "an invalid username; oneself (cannot_message_self); a name twice (duplicate_member); a deactivated user (user_deactivated); too many or too few people (invalid_group)", body = natter_shared::ErrorBody),
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
    let OpenDirect {
        username,
        usernames,
    } = body.into_inner();
    let names: Vec<String> = match (username, usernames) {
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        _ => {
            return Err(ApiError::new(
                ErrorKind::InvalidRequest,
                "give either `username` (a direct conversation) or `usernames` (a group)",
            ));
        }
    };
    let others = GROUP_PEOPLE.end() - 1;
    if names.is_empty() || names.len() > others {
        return Err(ApiError::new(
            ErrorKind::InvalidGroup,
            format!(
                "a conversation has 2 to {} people: name 1 to {others} others",
                GROUP_PEOPLE.end()
            ),
        ));
    }
    let names = names
        .into_iter()
        .map(Username::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys: Vec<String> = names.iter().map(Username::key).collect();
    keys.sort();
    if keys.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::new(
            ErrorKind::DuplicateMember,
            "a name is in the list twice",
        ));
    }
    let max = i64::from(state.settings.max_direct_per_user);
    let limits = state.clone();
    let me = user.id;
    let my_name = user.username.clone();
    let (id, created, added, people) = state
        .db
        .run(move |conn| {
            let mut people = vec![(me, my_name)];
            for name in &names {
                let peer = users::find_by_key(conn, &name.key())?
                    .filter(|p| p.username != BOT_USERNAME)
                    .ok_or_else(|| ApiError::not_found(format!("user '{name}'")))?;
                if peer.id == me.0 {
                    return Err(ApiError::new(
                        ErrorKind::CannotMessageSelf,
                        "you are in every conversation you start: leave yourself out of the list",
                    ));
                }
                if !peer.is_active {
                    return Err(ApiError::new(
                        ErrorKind::UserDeactivated,
                        format!("'{}' is deactivated", peer.username),
                    ));
                }
                people.push((UserId(peer.id), peer.username));
            }
            let ids: Vec<UserId> = people.iter().map(|(id, _)| *id).collect();
            if rooms::find_conversation(conn, &ids)?.is_none() {
                if max > 0 && rooms::created_by(conn, me, rooms::CONVERSATIONS)? >= max {
                    return Err(ApiError::limit_reached(format!(
                        "you have started {max} conversations, as many as one user may"
                    )));
                }
                limits
                    .limits
                    .creations
                    .check(me)
                    .map_err(|wait| ApiError::throttled("rooms and conversations created", wait))?;
            }
            let (id, created, added) = rooms::open_conversation(conn, me, &ids, now())?;
            Ok((id, created, added, people))
        })
        .await?;
    let room = RoomId(id);
    if created || !added.is_empty() {
        state.hub.lists().forget_room(room);
        for (person, _) in &people {
            state.hub.lists().forget_person(*person);
        }
    }
    // Everyone sees the conversation named after the others.
    let view_for = |who: UserId| {
        let others: Vec<String> = people
            .iter()
            .filter(|(id, _)| *id != who)
            .map(|(_, name)| name.clone())
            .collect();
        rooms::view(
            rooms::RoomRow {
                id,
                kind: if people.len() == 2 {
                    rooms::DIRECT
                } else {
                    rooms::GROUP
                }
                .to_owned(),
                name: None,
                topic: None,
                member_count: people.len() as i32,
            },
            Some(MEMBER),
            others,
        )
    };
    for (who, name) in people.iter().filter(|(id, _)| added.contains(id)) {
        state.hub.announce_room(Some(*who), &view_for(*who));
        if !created {
            let joined = member_frame(room, MemberEvent::Joined, *who, name);
            state.hub.broadcast(room, joined);
        }
    }
    let mut answer = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(answer.json(view_for(me)))
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
    // A conversation an admin is not in does not exist for them, for deleting too. A
    // private room does: admins delete the empty ones its last member left behind.
    // Who hears of it: everyone for a public room, only its members otherwise (read before
    // the rows go), so that a private room's id reaches nobody outside it.
    let deleted = state
        .db
        .run(move |conn| write_transaction(conn, |conn| deletion(conn, room, admin)))
        .await?;
    let Some((told, files)) = deleted else {
        return Err(ApiError::not_found(format!("room {room}")));
    };
    // Every member's list changes: rare enough to forget every list.
    state.hub.lists().forget_all();
    tracing::info!(%room, by = %user.id, "room deleted");
    state.hub.room_deleted(room, told);
    state.files.release(&state.db, files).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Whom to tell of a deleted room (`None`: everyone), and the digests of its files.
type Deletion = (Option<Vec<UserId>>, Vec<String>);

/// Deletes `room` for `admin`, if it exists for them.
fn deletion(conn: &mut DbConnection, room: RoomId, admin: UserId) -> ApiResult<Option<Deletion>> {
    let Some((row, role)) = rooms::with_role(conn, room, admin)? else {
        return Ok(None);
    };
    if !row.kind().is_named() && role.is_none() {
        return Ok(None);
    }
    let told = if row.kind == PUBLIC {
        None
    } else {
        Some(
            rooms::member_roles(conn, room)?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        )
    };
    Ok(rooms::delete(conn, room)?.map(|files| (told, files)))
}
