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
use natter_shared::limits::MAX_ATTACHMENTS;
use natter_shared::{ClientId, ErrorKind, MessageBody, MessageId, MessageKind, RoomId, UploadId};

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

/// What a post may carry besides its text: the message it answers and the sender's uploads.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub reply_to: Option<MessageId>,
    pub attachments: Vec<UploadId>,
}

impl Extras {
    /// Nothing to look up before the message can be queued.
    pub fn is_empty(&self) -> bool {
        self.reply_to.is_none() && self.attachments.is_empty()
    }
}

/// The checks every post passes first, in this order: its client id, its body (which may be
/// empty when it carries files), its attachments' count, the sender's rate limit. Returns
/// the post and its client id.
pub fn check(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    body: String,
    client_id: Option<String>,
    extras: &Extras,
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
    let files = extras.attachments.len();
    if files > MAX_ATTACHMENTS {
        return Err(refused(ApiError::new(
            ErrorKind::InvalidAttachment,
            format!("a message carries at most {MAX_ATTACHMENTS} files"),
        )));
    }
    let body = if files > 0 && body.trim().is_empty() {
        String::new()
    } else {
        MessageBody::parse(body)
            .map_err(|e| refused(e.into()))?
            .into_inner()
    };
    state
        .limits
        .messages
        .check(user.id)
        .map_err(|wait| refused(ApiError::rate_limited(wait)))?;
    let post = match commands::parse(&body) {
        Some(_) if files > 0 => {
            return Err(refused(ApiError::new(
                ErrorKind::InvalidAttachment,
                "a chat command carries no files: send the files in a message of their own",
            )));
        }
        Some(parsed) => Post::Command { body, parsed },
        None => Post::Message(NewMessage {
            room_id: room,
            author_id: user.id,
            author: user.username.clone(),
            kind: MessageKind::User,
            body,
            client_id: client_id.clone(),
            reply_to: None,
            attachments: Vec::new(),
        }),
    };
    Ok((post, client_id))
}

/// Fills in what `extras` names, in one trip to the database: what a reply shows of the
/// message it answers, if that is a message of the room (deleted ones too: the reply then
/// says so; otherwise 422 `invalid_reply`), and the sender's uploads, each theirs and in no
/// message yet (otherwise 422 `invalid_attachment`). Asked after [`may_post`].
pub async fn complete(
    state: &AppState,
    mut message: NewMessage,
    extras: Extras,
) -> ApiResult<NewMessage> {
    if extras.is_empty() {
        return Ok(message);
    }
    state
        .db
        .run(move |conn| {
            if let Some(id) = extras.reply_to {
                let reply = crate::db::messages::reply_to(conn, message.room_id, id)?
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorKind::InvalidReply,
                            format!("message {id} is not in this room: a reply answers a message of its own room"),
                        )
                    })?;
                message.reply_to = Some(Box::new(reply));
            }
            if !extras.attachments.is_empty() {
                let mut wanted = extras.attachments.clone();
                wanted.sort_unstable();
                wanted.dedup();
                if wanted.len() != extras.attachments.len() {
                    return Err(ApiError::new(
                        ErrorKind::InvalidAttachment,
                        "a file is named twice in attachments",
                    ));
                }
                message.attachments =
                    crate::db::uploads::pending(conn, message.author_id, &wanted)?.map_err(
                        |id| {
                            ApiError::new(
                                ErrorKind::InvalidAttachment,
                                format!("upload {id} is not one of your files waiting to be sent: upload it first, and send each file once"),
                            )
                        },
                    )?;
            }
            Ok(message)
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
    extras: Extras,
) -> ApiResult<Outcome> {
    let (post, client_id) =
        check(state, user, room, body, client_id, &extras).map_err(|r| r.error)?;
    may_post(state, room, user).await?;
    let post = match post {
        Post::Message(message) => Post::Message(complete(state, message, extras).await?),
        post => post,
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
