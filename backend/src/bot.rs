//! The chat bot: runs the commands of [`natter_shared::commands`] for the socket and REST
//! paths alike. A command either answers privately (a notice) or stores a message.

use crate::AppState;
use crate::auth::AuthUser;
use crate::db::jobs::{self, SmsPayload};
use crate::db::writer::{NewMessage, Stored};
use crate::db::{rooms, users};
use crate::error::{ApiError, ApiResult};
use chrono::{SecondsFormat, Utc};
use natter_shared::commands::{self, Command, CommandError};
use natter_shared::limits::BOT_USERNAME;
use natter_shared::{MessageKind, RoomId, UserId, Username};

/// What a command did.
pub enum Outcome {
    /// A private reply for the caller alone.
    Notice(String),
    /// A stored message, delivered to the room like any other.
    Stored(Box<Stored>),
}

/// Runs the command `parsed` from `body` (what [`commands::parse`] made of it). The caller
/// has checked that `user` may post in `room`.
pub async fn run(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    body: &str,
    parsed: Result<Command, CommandError>,
    client_id: Option<String>,
) -> ApiResult<Outcome> {
    let command = match parsed {
        Ok(command) => command,
        Err(e) => return Ok(Outcome::Notice(e.message)),
    };
    match command {
        Command::Help => Ok(Outcome::Notice(commands::help())),
        Command::Who => {
            let online = state.hub.online_in(room).await;
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
            // Stored once per client id like any message: a resent `/now` answers with the
            // same message. The bot's ids are the asker's, prefixed with the asker.
            let mut message = bot_message(state.bot_id, room, text);
            message.client_id = client_id.map(|c| format!("{}:{c}", user.id));
            let stored = state.writer.store(message).await?;
            Ok(Outcome::Stored(Box::new(stored)))
        }
        // An emote is stored as written; clients show "/me waves" as "alice waves".
        Command::Me { .. } => {
            let stored = state
                .writer
                .store(NewMessage {
                    reply_to: None,
                    attachments: Vec::new(),
                    room_id: room,
                    author_id: user.id,
                    author: user.username.clone(),
                    kind: MessageKind::User,
                    body: body.to_owned(),
                    client_id,
                })
                .await?;
            Ok(Outcome::Stored(Box::new(stored)))
        }
        Command::Sms { username } => queue_sms(state, user, room, username)
            .await
            .map(Outcome::Notice),
    }
}

/// A message from the bot to a room.
pub fn bot_message(bot_id: UserId, room: RoomId, body: String) -> NewMessage {
    NewMessage {
        reply_to: None,
        attachments: Vec::new(),
        room_id: room,
        author_id: bot_id,
        author: BOT_USERNAME.to_owned(),
        kind: MessageKind::Bot,
        body,
        client_id: None,
    }
}

/// `/sms USERNAME`: checks the target, stores a durable job and answers at once; the worker
/// reports in the room when the SMS is sent.
async fn queue_sms(
    state: &AppState,
    user: &AuthUser,
    room: RoomId,
    username: Username,
) -> ApiResult<String> {
    if let Err(wait) = state.limits.sms.check(user.id) {
        return Ok(format!(
            "Too many SMS: you can send another in {} s.",
            wait.as_secs() + 1
        ));
    }
    let requested_by = user.username.clone();
    let me = user.id;
    let per_day = state.settings.sms_per_recipient_per_day;
    let max_attempts = i32::try_from(state.settings.job_max_attempts).unwrap_or(i32::MAX);
    let notice = state
        .db
        .run(move |conn| {
            let target = users::find_by_key(conn, &username.key())?
                .filter(|u| u.is_active && u.username != BOT_USERNAME);
            let Some(target) = target else {
                return Ok(format!("There is no user named {username}."));
            };
            if target.id == me.0 {
                return Ok("You cannot /sms yourself.".to_owned());
            }
            if !rooms::is_member(conn, room, UserId(target.id))? {
                return Ok(format!(
                    "{} is not in this conversation: /sms reaches only people who are.",
                    target.username
                ));
            }
            // From here the answer is the same whether or not an SMS goes out: it tells
            // nobody whether the user has a phone, or how many SMS it had today.
            let answer = format!(
                "SMS to {} requested: if they can receive one, it is on its way.",
                target.username
            );
            let Some(phone) = target.phone.clone() else {
                return Ok(answer);
            };
            let payload = SmsPayload {
                room_id: room.0,
                to_user_id: target.id,
                to_username: target.username.clone(),
                requested_by,
            };
            let payload = serde_json::to_string(&payload).map_err(ApiError::internal)?;
            let queued = crate::db::write_transaction(conn, |conn| {
                let now = Utc::now().naive_utc();
                if !jobs::take_sms_quota(conn, &phone, per_day, now)? {
                    return Ok(None);
                }
                jobs::enqueue(conn, jobs::SMS, &payload, max_attempts, now).map(Some)
            })?;
            match queued {
                Some(job) => tracing::info!(job, "SMS queued"),
                None => tracing::info!(to = target.id, "SMS not queued: the number's daily cap"),
            }
            Ok(answer)
        })
        .await?;
    state.jobs_wake.notify_one();
    Ok(notice)
}
