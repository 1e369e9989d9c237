//! WebSocket frames on `GET /ws`: JSON text tagged by `type`, one enum each way.

/// Close codes the server sends, and what a client does about each.
pub mod close {
    /// The server is stopping, or the client stopped answering pings: reconnect (elsewhere).
    pub const GOING_AWAY: u16 = 1001;
    /// Not authenticated, or the user's tokens were just revoked: sign in again.
    pub const POLICY: u16 = 1008;
    /// A frame over 1 MiB: not read at all.
    pub const TOO_BIG: u16 = 1009;
    /// Catching the client up with a room made no progress for a whole client timeout:
    /// reconnect and join with `since`.
    pub const TOO_SLOW: u16 = 4008;
}

use crate::api::{Message, Room, User};
use crate::error::ErrorKind;
use crate::ids::{MessageId, RoomId, UploadId};
use serde::{Deserialize, Serialize};

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate, when neither the header nor the query carried a token.
    Auth {
        token: String,
    },
    /// Subscribe to a room; with `since`, every message with a larger id comes first.
    Join {
        room_id: RoomId,
        #[serde(default)]
        since: Option<MessageId>,
    },
    Leave {
        room_id: RoomId,
    },
    Send {
        room_id: RoomId,
        /// May be empty when the message carries attachments.
        body: String,
        #[serde(default)]
        client_id: Option<String>,
        /// The message of the same room this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
        /// The sender's uploads this message carries (at most 10), not yet in any message.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<UploadId>,
    },
    Typing {
        room_id: RoomId,
    },
    /// Every message of the room up to `message_id` is read (markers only move forward).
    /// Every socket of the user, on any node, hears the marker as a `read` frame.
    Read {
        room_id: RoomId,
        message_id: MessageId,
    },
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Ready {
        user: User,
    },
    Joined {
        room_id: RoomId,
        online: Vec<String>,
    },
    Message {
        message: Message,
    },
    Ack {
        client_id: Option<String>,
        message_id: MessageId,
    },
    Presence {
        room_id: RoomId,
        user: String,
        online: bool,
    },
    Typing {
        room_id: RoomId,
        user: String,
    },
    Notice {
        room_id: RoomId,
        body: String,
        /// The `client_id` of the `send` this answers, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// A room the user is a member of now (they made it, joined it, were added to it, or a
    /// conversation with them began), or one of theirs changed (its name, topic or their
    /// role): the room as they see it.
    Room {
        room: Room,
    },
    /// The user is not a member of the room any more (removed by an owner or an admin, or
    /// they left on another device): every socket of theirs has left it.
    Removed {
        room_id: RoomId,
    },
    /// Someone joined the room, left it, or was removed from it.
    Member {
        room_id: RoomId,
        event: MemberEvent,
        user_id: crate::UserId,
        username: String,
    },
    /// The user's read marker of a room moved (on this socket, another tab or another
    /// device): messages up to `message_id` are read.
    Read {
        room_id: RoomId,
        message_id: MessageId,
    },
    /// An admin deleted a room, with its messages.
    RoomDeleted {
        room_id: RoomId,
    },
    /// Its author edited a message of a joined room: here it is as it is now.
    Edited {
        message: Message,
    },
    /// A message of a joined room was deleted (by its author or an admin).
    Deleted {
        room_id: RoomId,
        message_id: MessageId,
    },
    /// Someone added (or took back) a reaction to a message of the room.
    Reaction {
        room_id: RoomId,
        message_id: MessageId,
        emoji: String,
        user: String,
        added: bool,
    },
    Error {
        code: ErrorKind,
        message: String,
        /// The `client_id` of the refused `send`, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// For `rate_limited`: how long to wait before sending again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

/// What happened to a room's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MemberEvent {
    Joined,
    Left,
    Removed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_read_the_contract_shapes() -> Result<(), serde_json::Error> {
        let join: ClientFrame = serde_json::from_str(r#"{"type":"join","room_id":3,"since":41}"#)?;
        assert_eq!(
            join,
            ClientFrame::Join {
                room_id: RoomId(3),
                since: Some(MessageId(41))
            }
        );
        let send: ClientFrame =
            serde_json::from_str(r#"{"type":"send","room_id":3,"body":"hi","client_id":"c1"}"#)?;
        assert!(matches!(send, ClientFrame::Send { .. }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"dance"}"#).is_err());
        Ok(())
    }

    #[test]
    fn server_frames_write_the_contract_shapes() -> Result<(), serde_json::Error> {
        let ack = ServerFrame::Ack {
            client_id: Some("c1".into()),
            message_id: MessageId(7),
        };
        assert_eq!(
            serde_json::to_string(&ack)?,
            r#"{"type":"ack","client_id":"c1","message_id":7}"#
        );
        let err = ServerFrame::Error {
            code: ErrorKind::RateLimited,
            message: "slow down".into(),
            client_id: None,
            retry_after_ms: Some(120),
        };
        assert_eq!(
            serde_json::to_string(&err)?,
            r#"{"type":"error","code":"rate_limited","message":"slow down","retry_after_ms":120}"#
        );
        Ok(())
    }
}
