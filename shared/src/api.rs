//! REST bodies under `/api`. Request bodies carry plain strings: the server parses them into
//! the types of [`crate::names`] so that a broken rule is a 422 naming the rule, not a 400.

use crate::ids::{MessageId, RoomId, UploadId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /api/auth/signup` and `POST /api/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// A signed-in user as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub is_admin: bool,
}

/// The signed-in user as they see themselves: `GET /api/me`, `PATCH /api/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: UserId,
    pub username: String,
    pub is_admin: bool,
    /// E.164, verified; `/sms` to this user goes here. Never shown to others.
    pub phone: Option<String>,
    /// A number set but not verified yet: a code was sent to it, to enter with
    /// `POST /api/me/phone/verify`. Until then `/sms` does not use it.
    #[serde(default)]
    pub phone_pending: Option<String>,
}

/// `POST /api/me/phone/verify`: the code sent to the pending number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyPhone {
    pub code: String,
}

/// `PATCH /api/me`: the fields to change. A number becomes pending and a code is sent to it
/// by SMS; `"phone": null` removes both the number and any pending one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateMe {
    #[serde(
        default,
        with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<Option<String>>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().and_then(Option::as_ref).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// The answer to signup and login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    pub token: String,
    pub user: User,
}

/// `GET /api/users?q=&limit=&after=`: one page of users ordered by username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsersPage {
    pub users: Vec<User>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Named, in the directory: any signed-in user may read it, join it and post in it.
    #[default]
    Public,
    /// Named, invite only: to anyone who is not a member it does not exist.
    Private,
    /// A conversation of two users, visible to them alone.
    Direct,
    /// A conversation of 3 to 9 users, visible to them alone; the same people always get
    /// the same conversation back.
    Group,
}

impl RoomKind {
    /// Public and private rooms have a name, owners and a topic; direct and group
    /// conversations have a fixed set of people instead.
    pub fn is_named(self) -> bool {
        matches!(self, Self::Public | Self::Private)
    }
}

/// A member's role in a public or private room. Owners (and admins) rename the room, set its
/// topic and remove members; everyone in a direct or group conversation is a plain member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
}

/// A room as the caller sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Room {
    pub id: RoomId,
    /// A public or private room's name; for a direct or group conversation, the other
    /// members' usernames, joined by ", ".
    pub name: String,
    pub kind: RoomKind,
    /// For a direct room, the other member's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// What the room is about (public and private rooms; up to 250 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// How many members it has.
    #[serde(default)]
    pub member_count: u32,
    /// For a direct or group conversation, the other members' usernames, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// The caller's role; absent when the caller is not a member (a public room they may
    /// read and join).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The newest message's id (in room lists; absent when the room has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_id: Option<MessageId>,
    /// The caller's read marker: every message up to this one is read (in room lists;
    /// absent when nothing is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_read_id: Option<MessageId>,
    /// Messages by others after the read marker, deleted ones not counted, up to
    /// `UNREAD_COUNTED` (in room lists).
    #[serde(default)]
    pub unread: u32,
    /// Unread messages that mention the caller, by name or `@room` (in room lists).
    #[serde(default)]
    pub mentions: u32,
    /// The caller's notification level (members only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
}

/// When a member hears of new messages in a room: a badge colour and, in the web app, a
/// desktop notification. Unread messages are counted whatever the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    /// Every message (the default in direct and group conversations).
    All,
    /// Messages that mention me (the default in public and private rooms).
    Mentions,
    /// Nothing: the room is muted.
    None,
}

impl Notify {
    pub fn default_for(kind: RoomKind) -> Self {
        if kind.is_named() {
            Notify::Mentions
        } else {
            Notify::All
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Notify::All => "all",
            Notify::Mentions => "mentions",
            Notify::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Notify::All),
            "mentions" => Some(Notify::Mentions),
            "none" => Some(Notify::None),
            _ => None,
        }
    }
}

/// `POST /api/rooms/{id}/read`: every message up to this one is read. Markers only move
/// forward: an older id is accepted and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkRead {
    pub message_id: MessageId,
}

/// A read marker as it is now: the answer to `POST /api/rooms/{id}/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadMarker {
    pub room_id: RoomId,
    pub message_id: MessageId,
}

/// `PATCH /api/rooms/{id}/settings`: the caller's own settings for a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSettings {
    pub notify: Notify,
}

/// `POST /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateRoom {
    pub name: String,
    /// Invite only (default: false, a public room in the directory).
    #[serde(default)]
    pub private: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// `PATCH /api/rooms/{id}`: what to change (owners and admins). An empty topic clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateRoom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// `POST /api/dms`: one username opens the direct room of two; two to eight make or return
/// the group conversation of those people and the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenDirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usernames: Option<Vec<String>>,
}

/// `POST /api/rooms/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMember {
    pub username: String,
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    #[serde(deserialize_with = "crate::rfc3339::deserialize")]
    pub joined_at: DateTime<Utc>,
    /// Whether they have a socket in the room now (on this node; on every node with Redis).
    #[serde(default)]
    pub online: bool,
}

/// `GET /api/rooms/{id}/members`: one page of members by user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembersPage {
    pub members: Vec<Member>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by a person.
    User,
    /// Posted by the chat bot.
    Bot,
    /// Posted by the server itself.
    System,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    /// The author's username.
    pub author: String,
    pub kind: MessageKind,
    pub body: String,
    #[serde(deserialize_with = "crate::rfc3339::deserialize")]
    pub created_at: DateTime<Utc>,
    pub client_id: Option<String>,
    /// When its author last edited it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::rfc3339::option::deserialize"
    )]
    pub edited_at: Option<DateTime<Utc>>,
    /// The message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// Reactions, one entry per emoji, in the order first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The members it mentions by name (see `mentions`): their user ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// Whether it mentions everyone in the room (`@room`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mentions_room: bool,
    /// Its files, in the order they were uploaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// The room a search result is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchRoom {
    pub id: RoomId,
    /// As the room list names it (for a conversation, the other members' names).
    pub name: String,
    pub kind: RoomKind,
}

/// A message that matched a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResult {
    pub message: Message,
    pub room: SearchRoom,
    /// What matched: `[start, end)` ranges of characters (Unicode scalar values, not bytes
    /// or UTF-16 units) in `message.body`, sorted and not overlapping. Never HTML.
    pub highlights: Vec<[u32; 2]>,
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A file: the answer to `POST /api/uploads`, and each of a message's `attachments`.
/// `url` serves the file to the members of its message's room (before it is sent, to its
/// uploader alone); images have a `thumb_url` and their size in pixels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: UploadId,
    /// The name it was uploaded with (no folders; at most 255 characters).
    pub name: String,
    /// In bytes.
    pub size: i64,
    /// What its bytes are, as the server found (never the client's word).
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    /// The first few who reacted (at most [`REACTION_USERS_SHOWN`]).
    pub users: Vec<String>,
}

/// Usernames a reaction lists at most.
pub const REACTION_USERS_SHOWN: usize = 10;
/// Different emoji one message may carry.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;

/// What a reply shows of the message it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyTo {
    pub id: MessageId,
    pub author: String,
    /// The start of its text (at most 100 characters); empty once it is deleted.
    pub excerpt: String,
    /// The original was deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// Characters of the original a reply shows.
pub const REPLY_EXCERPT_CHARS: usize = 100;

/// `PATCH /api/rooms/{room}/messages/{id}`: the author's new text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditMessage {
    pub body: String,
}

/// `POST /api/rooms/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostMessage {
    /// May be empty when the message carries attachments.
    pub body: String,
    #[serde(default)]
    pub client_id: Option<String>,
    /// The message of the same room this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// The sender's uploads this message carries (at most 10), not yet in any message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<UploadId>,
}

/// The answer to a command posted over REST that stores nothing (`/help`, `/who`, a refused
/// command): the private reply a socket would get as a `notice` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    pub room_id: RoomId,
    pub notice: String,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
    pub database: String,
}

/// `POST /api/me/password`. Answers with a new token; every other token of the user stops
/// working and their open sockets are closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// A user as admins see them: `GET /api/admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUser {
    pub id: UserId,
    pub username: String,
    pub is_admin: bool,
    pub is_active: bool,
}

/// One page of users for admins, deactivated ones included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUsersPage {
    pub users: Vec<AdminUser>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}
