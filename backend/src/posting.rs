//! Posting a message, for REST and sockets alike: a rule for posts is added here, once.
//!
//! Every post passes [`check`]: its client id, its body and the sender's rate limit, and
//! becomes a [`Post`], a chat command or a message to store. [`may_post`] says whether the
//! sender may post in the room; [`dispatch`] runs a command. REST runs these in a row
//! ([`post`]). A socket runs `check` frame by frame and queues each message with the writer
//! at once, so that one socket's messages are stored in the order it sent them without
//! waiting for each commit; it asks `may_post` once per room and remembers the answer.

use crate::AppState;
use crate::auth::AuthUser;
use crate::bot::Outcome;
use crate::db::writer::NewMessage;
use crate::error::{ApiError, ApiResult};
use natter_shared::commands::{self, Command, CommandError};
use natter_shared::{ClientId, MessageBody, MessageKind, RoomId};

/// A post that passed [`check`].
pub enum Post {
    /// A chat command, for [`dispatch`].
    Command {
        body: String,
        parsed: Result<Command, CommandError>,
    },
    /// A message to store.
    Message(NewMessage),
}

/// A post refused by [`check`], with the client id to answer with: none when the client id
/// itself was what was wrong.
pub struct Refused {
    pub error: ApiError,
    pub client_id: Option<String>,
}

/// The checks every post passes first, in this order: its client id, its body, the sender's
/// rate limit. Returns the post and its client id.
pub fn check(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    body: String,
    client_id: Option<String>,
) -> Result<(Post, Option<String>), Refused> {
    let client_id = client_id
        .map(ClientId::parse)
        .transpose()
        .map_err(|e| Refused {
            error: e.into(),
            client_id: None,
        })?
        .map(ClientId::into_inner);
    let refused = |error: ApiError| Refused {
        error,
        client_id: client_id.clone(),
    };
    let body = MessageBody::parse(body).map_err(|e| refused(e.into()))?;
    state
        .limits
        .messages
        .check(user.id)
        .map_err(|wait| refused(ApiError::rate_limited(wait)))?;
    let post = match commands::parse(body.as_str()) {
        Some(parsed) => Post::Command {
            body: body.into_inner(),
            parsed,
        },
        None => Post::Message(NewMessage {
            room_id: room,
            author_id: user.id,
            author: user.username.clone(),
            kind: MessageKind::User,
            body: body.into_inner(),
            client_id: client_id.clone(),
            reply_to: None,
        }),
    };
    Ok((post, client_id))
}

/// What a reply to `id` shows, if `id` is a message of `room` (deleted ones too: the reply
/// then says so); otherwise 422 `invalid_reply`. Asked after [`may_post`].
pub async fn reply_to(
    state: &AppState,
    room: RoomId,
    id: natter_shared::MessageId,
) -> ApiResult<natter_shared::ReplyTo> {
    state
        .db
        .run(move |conn| {
            crate::db::messages::reply_to(conn, room, id)?.ok_or_else(|| {
                ApiError::new(
                    natter_shared::ErrorKind::InvalidReply,
                    format!("message {id} is not in this room: a reply answers a message of its own room"),
                )
            })
        })
        .await
}

/// Whether `user` may post in `room`: yes if they are a member. Posting in a public room
/// they are not a member of joins it first (the room hears `member` `joined`). Otherwise 404,
/// whether the room exists or not.
pub async fn may_post(state: &AppState, room: RoomId, user: &AuthUser) -> ApiResult<()> {
    crate::api::rooms::join_room(state, user, room)
        .await
        .map(drop)
}

/// Runs a chat command that passed [`check`], in a room the user may post in.
pub use crate::bot::run as dispatch;

/// A whole post, one step after the other (REST): a private notice, or the stored message
/// (the one stored before, for a client id seen before).
pub async fn post(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    body: String,
    client_id: Option<String>,
    reply: Option<natter_shared::MessageId>,
) -> ApiResult<Outcome> {
    let (post, client_id) = check(state, user, room, body, client_id).map_err(|r| r.error)?;
    may_post(state, room, user).await?;
    let post = match (post, reply) {
        (Post::Message(mut message), Some(id)) => {
            message.reply_to = Some(Box::new(reply_to(state, room, id).await?));
            Post::Message(message)
        }
        (post, _) => post,
    };
    match post {
        Post::Command { body, parsed } => {
            dispatch(state, user, room, &body, parsed, client_id).await
        }
        Post::Message(message) => Ok(Outcome::Stored(Box::new(
            state.writer.store(message).await?,
        ))),
    }
}
