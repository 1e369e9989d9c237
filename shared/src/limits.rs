//! Limits both sides enforce, so the web app can warn before the server refuses.

/// Usernames: 3 to 32 characters.
pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
/// Passwords: 8 to 72 bytes (bcrypt reads no further than 72 bytes, so longer is refused, never cut).
pub const PASSWORD_BYTES: std::ops::RangeInclusive<usize> = 8..=72;
/// Room names: 1 to 64 characters.
pub const ROOM_NAME_CHARS: std::ops::RangeInclusive<usize> = 1..=64;
/// A room's topic.
pub const TOPIC_CHARS: usize = 250;
/// People in a group conversation, its starter among them (two are a direct conversation).
pub const GROUP_PEOPLE: std::ops::RangeInclusive<usize> = 3..=9;
/// The most people one message mentions by name; later names are plain text.
pub const MAX_MENTIONS: usize = 50;
/// Unread messages are counted up to this many per room (a badge shows "99+"), so that a
/// room list costs the same however far behind its reader is. Mentions are counted in full.
pub const UNREAD_COUNTED: u32 = 100;
/// Message bodies: 1 to 4000 characters, not only white space.
pub const MESSAGE_CHARS: std::ops::RangeInclusive<usize> = 1..=4000;
/// Client ids (idempotency keys): 1 to 64 characters.
pub const CLIENT_ID_CHARS: std::ops::RangeInclusive<usize> = 1..=64;
/// The history page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 25;
/// The largest history or user page.
pub const MAX_PAGE: u32 = 100;
/// A search query's length in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Words and phrases in one search query.
pub const MAX_QUERY_TERMS: usize = 16;
/// Letters before the `*` of a prefix search (`de*` would match half the language).
pub const MIN_PREFIX_CHARS: usize = 2;
/// Search results per page when none is asked for (at most [`MAX_PAGE`]).
pub const DEFAULT_SEARCH_PAGE: u32 = 20;
/// The largest JSON body the REST API reads, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// The largest WebSocket frame the server reads, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The most files one message carries.
pub const MAX_ATTACHMENTS: usize = 10;
/// The longest side of an image's thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 480;
/// The side of a stored avatar, in pixels (the picture is cropped square, then scaled).
pub const AVATAR_SIDE: u32 = 256;
/// The most characters of a file's name that are kept.
pub const FILE_NAME_CHARS: usize = 255;
/// The name the chat bot posts under; nobody may sign up with it.
pub const BOT_USERNAME: &str = "natterbot";
