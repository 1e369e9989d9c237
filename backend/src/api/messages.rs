//! `/api/rooms/{id}/messages`: history pages and posting.

use super::{check_reads, page_limit};
use crate::AppState;
use crate::auth::{AuthUser, Bearer, SignedUser};
use crate::bot::Outcome;
use crate::db::{messages, rooms};
use crate::error::{ApiError, ApiResult};
use crate::realtime::recent;
use crate::room_lists::keep_person_read;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use natter_shared::limits::DEFAULT_PAGE;
use natter_shared::ws::ServerFrame;
use natter_shared::{
    EditMessage, ErrorKind, Message, MessageBody, MessageId, MessageKind, Notice, PostMessage,
    RoomId,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    limit: Option<u32>,
    before: Option<i64>,
    after: Option<i64>,
    around: Option<i64>,
}

/// The newest `limit` messages (25 by default) with ids below `before`, oldest first; or,
/// with `after`, the oldest with ids above it (reading down from a message opened in the
/// middle of the history); or, with `around`, the page centred on that message (for
/// opening history at a search result or a replied-to message). The hottest read: a
/// member's page among the room's newest messages comes from memory when the server keeps
/// the user and the room (`realtime::recent`); anything else is one trip to the database.
#[utoipa::path(
    get,
    operation_id = "messages_list",
    path = "/api/rooms/{id}/messages",
    tag = "messages",
    params(("id" = i64, Path, description = "the room id"), ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 25)"), ("before" = Option<i64>, Query, description = "only ids below this"), ("after" = Option<i64>, Query, description = "the oldest messages with ids above this (not with `before` or `around`)"), ("around" = Option<i64>, Query, description = "the page centred on this message of the room: up to half the page after it, the rest it and before it (not with `before`)")),
    responses(
        (status = 200, description = "a page", body = Vec<natter_shared::Message>),
        (status = 400, description = "a malformed id or query", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 404, description = "no such room, or not the caller's; or, with `around`, no such message in it", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_limit; invalid_cursor (more than one of `before`, `after` and `around`)", body = natter_shared::ErrorBody),
        (status = 429, description = "too many reads; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn list(
    state: web::Data<AppState>,
    bearer: Bearer,
    path: web::Path<i64>,
    query: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let signed = state.auth.signed_user(&bearer.0)?;
    let room = RoomId(path.into_inner());
    let HistoryQuery {
        limit,
        before,
        after,
        around,
    } = query.into_inner();
    let limit = page_limit(limit.unwrap_or(DEFAULT_PAGE))?;
    if [before, after, around].iter().flatten().count() > 1 {
        return Err(ApiError::new(
            ErrorKind::InvalidCursor,
            "ask for a page before, after or around a message: one of them",
        ));
    }
    check_reads(&state, signed.id())?;
    let limit = usize::try_from(limit).unwrap_or(recent::KEPT);
    let newest = around.is_none() && after.is_none();
    let before = before.map(MessageId);
    // A member's page among a room's newest messages: from memory alone.
    if newest && let Some(json) = newest_from_memory(&state, signed, room, before, limit) {
        state.metrics.history_from_memory.inc();
        return Ok(json_page(json));
    }
    let (hub, metrics, lists) = (
        state.hub.clone(),
        state.metrics.clone(),
        state.hub.lists().clone(),
    );
    let json = state
        .db
        .run(move |conn| {
            let recent = hub.recent();
            let lists_ticket = lists.ticket();
            let user = signed.check(conn)?;
            if !rooms::can_see(conn, room, user.id)? {
                return Err(ApiError::not_found(format!("room {room}")));
            }
            let db_limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let page = match (around, after) {
                (Some(id), _) => messages::around(conn, room, MessageId(id), db_limit)?
                    .ok_or_else(|| ApiError::not_found(format!("message {id} in room {room}")))?,
                (None, Some(id)) => {
                    messages::after(conn, Some(room), MessageId(id), None, db_limit)?
                }
                (None, None) => {
                    if lists.is_on() && lists.person(user.id).is_none() {
                        // So that this user's next pages come from memory alone.
                        keep_person_read(conn, &lists, lists_ticket, &user)?;
                    }
                    let kept = match before {
                        None => recent.newest_json(room, limit),
                        Some(_) => recent
                            .page(room, before, limit)
                            .and_then(|page| recent::page_json(&page)),
                    };
                    if let Some(json) = kept {
                        metrics.history_from_memory.inc();
                        return Ok(json);
                    }
                    if before.is_some() {
                        messages::page(conn, room, before, db_limit)?
                    } else {
                        // The newest page: read as many as are kept, and keep them. The
                        // ticket comes before the read (see `recent`).
                        let ticket = recent.ticket(room);
                        let kept = i64::try_from(recent::KEPT).unwrap_or(i64::MAX);
                        let mut page = messages::page(conn, room, None, db_limit.max(kept))?;
                        recent.keep(ticket, room, &page);
                        page.split_off(page.len().saturating_sub(limit))
                    }
                }
            };
            serde_json::to_vec(&page)
                .map(web::Bytes::from)
                .map_err(ApiError::internal)
        })
        .await?;
    Ok(json_page(json))
}

/// The page of `room` below `before` (or the newest) from memory, as JSON, when the token's
/// user, their membership and the page are all kept; `None` sends the request to the
/// database.
fn newest_from_memory(
    state: &AppState,
    signed: SignedUser,
    room: RoomId,
    before: Option<MessageId>,
    limit: usize,
) -> Option<web::Bytes> {
    let person = state.hub.lists().person(signed.id())?;
    if person.token_version != signed.version() || !person.rooms.contains_key(&room.0) {
        // A stale token (refused by the database), or a public room the user reads
        // without being a member: the database decides.
        return None;
    }
    let recent = state.hub.recent();
    match before {
        None => recent.newest_json(room, limit),
        Some(_) => recent::page_json(&recent.page(room, before, limit)?),
    }
}

fn json_page(json: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(json)
}

/// Stores a message; with a `client_id` seen before from this user, answers with that message.
#[utoipa::path(
    post,
    operation_id = "messages_post",
    path = "/api/rooms/{id}/messages",
    tag = "messages",
    params(("id" = i64, Path, description = "the room id")),
    request_body = natter_shared::PostMessage,
    responses(
        (status = 201, description = "stored", body = natter_shared::Message),
        (status = 200, description = "a command answered privately", body = natter_shared::Notice),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 404, description = "no such room, or not the caller's", body = natter_shared::ErrorBody),
        (status = 409, description = "client_id_reused: the client_id names a message in another room", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_message_body, invalid_client_id, invalid_reply (reply_to names no message of this room), or invalid_attachment (not the caller's unsent upload, or more than 10)", body = natter_shared::ErrorBody),
        (status = 429, description = "the rate limit; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn post(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: super::body::Body<PostMessage>,
) -> ApiResult<HttpResponse> {
    let room = RoomId(path.into_inner());
    let PostMessage {
        body,
        client_id,
        reply_to,
        attachments,
    } = body.into_inner();
    let extras = crate::posting::Extras {
        reply_to,
        attachments,
    };
    Ok(
        match crate::posting::post(&state, &user, room, body, client_id, extras).await? {
            Outcome::Notice(notice) => HttpResponse::Ok().json(Notice {
                room_id: room,
                notice,
            }),
            Outcome::Stored(stored) => HttpResponse::Created().json(stored.message),
        },
    )
}

/// The message `id` of `room`, if the caller may see the room and it is not deleted; with its
/// author's id and kind.
async fn live_message(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    id: MessageId,
) -> ApiResult<(i64, String)> {
    // Every edit and deletion is a durable write and a frame to the whole room: it costs a
    // token from the sender's message bucket, like a message.
    state
        .limits
        .messages
        .check(user.id)
        .map_err(ApiError::rate_limited)?;
    state.visible_room(room, user.id).await?;
    state
        .db
        .run(move |conn| {
            messages::author_of(conn, room, id)?
                .ok_or_else(|| ApiError::not_found(format!("message {id}")))
        })
        .await
}

/// `PATCH /api/rooms/{room}/messages/{id}`: its author changes the text; subscribers get an
/// `edited` frame.
#[utoipa::path(
    patch,
    operation_id = "messages_edit",
    path = "/api/rooms/{room}/messages/{id}",
    tag = "messages",
    params(("room" = i64, Path, description = "the room id"), ("id" = i64, Path, description = "the message id")),
    request_body = natter_shared::EditMessage,
    responses(
        (status = 200, description = "edited", body = natter_shared::Message),
        super::docs::BadJsonBody,
        super::docs::Unauthorized,
        (status = 403, description = "not the author", body = natter_shared::ErrorBody),
        (status = 404, description = "no such message or room", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_message_body", body = natter_shared::ErrorBody),
        (status = 429, description = "too many messages, edits and deletions; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn edit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
    body: super::body::Body<EditMessage>,
) -> ApiResult<web::Json<Message>> {
    let (room, id) = path.into_inner();
    let (room, id) = (RoomId(room), MessageId(id));
    let body = MessageBody::parse(body.into_inner().body)?;
    let (author, kind) = live_message(&state, &user, room, id).await?;
    if author != user.id.0 || kind != messages::kind_to_db(MessageKind::User) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only its author may edit a message",
        ));
    }
    let message = state
        .db
        .run(move |conn| {
            Ok(messages::edit(
                conn,
                room,
                user.id,
                id,
                body.as_str(),
                Utc::now().naive_utc(),
            )?)
        })
        .await?;
    state.hub.broadcast(
        room,
        ServerFrame::Edited {
            message: message.clone(),
        },
    );
    Ok(web::Json(message))
}

/// `DELETE /api/rooms/{room}/messages/{id}`: its author or an admin removes it; its text is
/// gone from history and subscribers get a `deleted` frame.
#[utoipa::path(
    delete,
    operation_id = "messages_delete",
    path = "/api/rooms/{room}/messages/{id}",
    tag = "messages",
    params(("room" = i64, Path, description = "the room id"), ("id" = i64, Path, description = "the message id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "neither author nor admin", body = natter_shared::ErrorBody),
        (status = 404, description = "no such message or room", body = natter_shared::ErrorBody),
        (status = 429, description = "too many messages, edits and deletions; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> ApiResult<HttpResponse> {
    let (room, id) = path.into_inner();
    let (room, id) = (RoomId(room), MessageId(id));
    let (author, _) = live_message(&state, &user, room, id).await?;
    if author != user.id.0 && !user.is_admin {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "only its author or an admin may delete a message",
        ));
    }
    let files = state
        .db
        .run(move |conn| Ok(messages::delete(conn, id, Utc::now().naive_utc())?))
        .await?;
    tracing::info!(%room, message = %id, by = %user.id, files = files.len(), "message deleted");
    state.files.release(&state.db, files).await;
    state.hub.broadcast(
        room,
        ServerFrame::Deleted {
            room_id: room,
            message_id: id,
        },
    );
    Ok(HttpResponse::NoContent().finish())
}

/// One emoji, in its fully qualified form, or 422 `invalid_emoji`.
fn emoji(raw: &str) -> ApiResult<&'static str> {
    emojis::get(raw).map(emojis::Emoji::as_str).ok_or_else(|| {
        ApiError::new(
            ErrorKind::InvalidEmoji,
            "a reaction is one emoji, such as 👍 (URL-encoded in the path)",
        )
    })
}

/// `PUT /api/rooms/{room}/messages/{id}/reactions/{emoji}`: the caller reacts with one emoji.
/// Idempotent; a message carries at most 20 different emoji.
#[utoipa::path(
    put,
    operation_id = "messages_react",
    path = "/api/rooms/{room}/messages/{id}/reactions/{emoji}",
    tag = "messages",
    params(("room" = i64, Path, description = "the room id"), ("id" = i64, Path, description = "the message id"), ("emoji" = String, Path, description = "one emoji, URL-encoded")),
    responses(
        (status = 204, description = "the caller's reaction is there"),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 403, description = "limit_reached: the message has 20 different emoji", body = natter_shared::ErrorBody),
        (status = 404, description = "no such message or room", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_emoji", body = natter_shared::ErrorBody),
        (status = 429, description = "too many messages, edits, deletions and reactions; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn react(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64, String)>,
) -> ApiResult<HttpResponse> {
    let (room, id, emoji) = reaction_target(&state, &user, path.into_inner()).await?;
    let who = user.id;
    let reacted = state
        .db
        .run(move |conn| {
            Ok(messages::add_reaction(
                conn,
                id,
                who,
                emoji,
                Utc::now().naive_utc(),
            )?)
        })
        .await?;
    match reacted {
        messages::Reacted::Full => Err(ApiError::limit_reached(format!(
            "a message carries at most {} different emoji",
            natter_shared::MAX_REACTIONS_PER_MESSAGE
        ))),
        messages::Reacted::Already => Ok(HttpResponse::NoContent().finish()),
        messages::Reacted::Added => {
            announce_reaction(&state, &user, room, id, emoji, true);
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

/// `DELETE /api/rooms/{room}/messages/{id}/reactions/{emoji}`: the caller takes theirs back.
/// Idempotent.
#[utoipa::path(
    delete,
    operation_id = "messages_unreact",
    path = "/api/rooms/{room}/messages/{id}/reactions/{emoji}",
    tag = "messages",
    params(("room" = i64, Path, description = "the room id"), ("id" = i64, Path, description = "the message id"), ("emoji" = String, Path, description = "one emoji, URL-encoded")),
    responses(
        (status = 204, description = "the caller's reaction is not there"),
        (status = 400, description = "a malformed id", body = natter_shared::ErrorBody),
        super::docs::Unauthorized,
        (status = 404, description = "no such message or room", body = natter_shared::ErrorBody),
        (status = 422, description = "invalid_emoji", body = natter_shared::ErrorBody),
        (status = 429, description = "too many messages, edits, deletions and reactions; see Retry-After", body = natter_shared::ErrorBody),
        super::docs::Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn unreact(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64, String)>,
) -> ApiResult<HttpResponse> {
    let (room, id, emoji) = reaction_target(&state, &user, path.into_inner()).await?;
    let who = user.id;
    let removed = state
        .db
        .run(move |conn| Ok(messages::remove_reaction(conn, id, who, emoji)?))
        .await?;
    if removed {
        announce_reaction(&state, &user, room, id, emoji, false);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The room, message and emoji of a reaction's path, once the emoji is one and the message is
/// one the caller may see (a token from the message bucket taken).
async fn reaction_target(
    state: &AppState,
    user: &AuthUser,
    (room, id, raw): (i64, i64, String),
) -> ApiResult<(RoomId, MessageId, &'static str)> {
    let (room, id) = (RoomId(room), MessageId(id));
    let emoji = emoji(&raw)?;
    live_message(state, user, room, id).await?;
    Ok((room, id, emoji))
}

fn announce_reaction(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    id: MessageId,
    emoji: &str,
    added: bool,
) {
    state.hub.broadcast(
        room,
        ServerFrame::Reaction {
            room_id: room,
            message_id: id,
            emoji: emoji.to_owned(),
            user: user.username.clone(),
            added,
        },
    );
}
