//! The chat bot: runs the commands of [`natter_shared::commands`] for the socket and REST
//! paths alike. A command either answers privately (a notice) or stores a message.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::writer::{NewMessage, Stored};
use crate::error::ApiResult;
use crate::realtime::room::Online;
use chrono::{SecondsFormat, Utc};
use natter_shared::commands::{self, Command, CommandError};
use natter_shared::limits::BOT_USERNAME;
use natter_shared::{MessageKind, RoomId};

/// What a command did.
pub enum Outcome {
    /// A private reply for the caller alone.
    Notice(String),
    /// A stored message, delivered to the room like any other.
    Stored(Stored),
}

/// Runs the command `parsed` from `body` (what [`commands::parse`] made of it). The caller
/// has checked that `user` may post in `room`.
pub async fn run(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    body: &str,
    parsed: Result<Command, CommandError>,
) -> ApiResult<Outcome> {
    let command = match parsed {
        Ok(command) => command,
        Err(e) => return Ok(Outcome::Notice(e.message)),
    };
    match command {
        Command::Help => Ok(Outcome::Notice(commands::help())),
        Command::Who => {
            let online = match state.hub.existing_room(room) {
                Some(addr) => addr.send(Online).await.unwrap_or_default(),
                None => Vec::new(),
            };
            Ok(Outcome::Notice(if online.is_empty() {
                "Nobody is online in this room.".into()
            } else {
                format!("Online here: {}", online.join(", "))
            }))
        }
        Command::Now => {
            let now = Utc::now();
            let text = format!(
                "It is {} UTC ({}).",
                now.format("%A %-d %B %Y, %H:%M:%S"),
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            let stored = state.writer.store(bot_message(state, room, text)).await?;
            Ok(Outcome::Stored(stored))
        }
        // An emote is stored as written; clients show "/me waves" as "alice waves".
        Command::Me { .. } => {
            let stored = state
                .writer
                .store(NewMessage {
                    room_id: room,
                    author_id: user.id,
                    author: user.username.clone(),
                    kind: MessageKind::User,
                    body: body.to_owned(),
                    client_id: None,
                })
                .await?;
            Ok(Outcome::Stored(stored))
        }
        Command::Sms { username } => Ok(Outcome::Notice(format!(
            "/sms {username}: text messages are not set up on this server yet; nothing was sent."
        ))),
    }
}

/// A message from the bot to a room.
pub fn bot_message(state: &AppState, room: RoomId, body: String) -> NewMessage {
    NewMessage {
        room_id: room,
        author_id: state.bot_id,
        author: BOT_USERNAME.to_owned(),
        kind: MessageKind::Bot,
        body,
        client_id: None,
    }
}
