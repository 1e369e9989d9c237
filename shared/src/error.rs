//! Error kinds: the `error` field of every REST error body and WebSocket `error` frame.

use serde::{Deserialize, Serialize};

/// What went wrong, as a stable snake_case word that clients can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The body is not JSON.
    MalformedJson,
    /// The JSON has the wrong shape: a missing field or a wrong type.
    InvalidRequest,
    /// A JSON body was sent without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// The body or frame is larger than the server reads.
    PayloadTooLarge,
    /// No bearer token was given.
    MissingToken,
    /// The token is malformed, expired, revoked or for a user who no longer exists.
    InvalidToken,
    /// Wrong username or password.
    InvalidCredentials,
    /// Signed in, but not allowed.
    Forbidden,
    /// No such thing, or the caller may not see it.
    NotFound,
    /// The path exists, but not with this method.
    MethodNotAllowed,
    UsernameTaken,
    RoomExists,
    InvalidUsername,
    ReservedUsername,
    InvalidPassword,
    InvalidRoomName,
    InvalidMessageBody,
    InvalidClientId,
    InvalidPhone,
    /// A `limit` outside 1 to 100.
    InvalidLimit,
    /// A pagination cursor that the server did not hand out.
    InvalidCursor,
    /// A direct conversation with oneself.
    CannotMessageSelf,
    RateLimited,
    /// A per-user count limit is reached (rooms created, conversations started): waiting
    /// does not help; the message says which limit.
    LimitReached,
    /// The same `client_id` was used before for another message (another room).
    ClientIdReused,
    /// A wrong or expired phone verification code.
    InvalidCode,
    /// `reply_to` names no message of this room.
    InvalidReply,
    /// Not one emoji.
    InvalidEmoji,
    /// A topic longer than 250 characters or with control characters.
    InvalidTopic,
    /// A conversation of too many or too few people (2 to 9, the caller among them).
    InvalidGroup,
    /// The same person twice in a list of people.
    DuplicateMember,
    /// The user is deactivated: they cannot be added to rooms or conversations.
    UserDeactivated,
    /// Adding someone who is a member already.
    AlreadyMember,
    /// Removing the only owner of a room (they may leave instead, which hands it on).
    LastOwner,
    /// Adding to or removing from a direct or group conversation: its people are fixed.
    FixedMembers,
    /// Leaving a direct conversation.
    CannotLeave,
    /// Something only members have (a read marker, notification settings) asked of a
    /// public room the caller has not joined: join it first.
    NotMember,
    /// A search query that cannot be used (only exclusions, too long, a one-letter
    /// prefix); the message says what to change.
    InvalidQuery,
    /// An attachment that cannot go with this message: not the sender's upload, already in
    /// a message, missing, or too many.
    InvalidAttachment,
    /// A file that claims to be an image but cannot be read as one, or one whose pixels
    /// would take too much memory to decode (a decompression bomb).
    InvalidImage,
    /// The upload would take the user past their storage quota.
    QuotaExceeded,
    /// The server is too busy for this now (its password hashing is saturated); try again
    /// after `Retry-After`.
    Busy,
    /// The database cannot be reached or written; try again later.
    StorageUnavailable,
    Internal,
    /// A kind this build does not know yet (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// The HTTP status that goes with this kind.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            MalformedJson | InvalidRequest => 400,
            MissingToken | InvalidToken | InvalidCredentials => 401,
            Forbidden => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            LimitReached | NotMember => 403,
            UsernameTaken | RoomExists | ClientIdReused | AlreadyMember | LastOwner => 409,
            PayloadTooLarge | QuotaExceeded => 413,
            UnsupportedMediaType => 415,
            InvalidUsername | ReservedUsername | InvalidPassword | InvalidRoomName
            | InvalidMessageBody | InvalidClientId | InvalidPhone | InvalidLimit
            | InvalidCursor | CannotMessageSelf | InvalidCode | InvalidReply | InvalidEmoji
            | InvalidTopic | InvalidGroup | DuplicateMember | UserDeactivated | FixedMembers
            | CannotLeave | InvalidQuery | InvalidAttachment | InvalidImage => 422,
            RateLimited => 429,
            StorageUnavailable | Busy => 503,
            Internal | Unknown => 500,
        }
    }
}

/// The JSON body of every REST error: `{"error": "<kind>", "message": "<text for a person>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorKind,
    pub message: String,
}
