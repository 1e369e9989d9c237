//! Typed ids, so a room id is never passed where a user id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type! {
    /// A user's id.
    UserId,
    /// A room's id, public or direct.
    RoomId,
    /// A message's id. Ids rise with time across the whole database, so they order
    /// messages and serve as history cursors.
    MessageId,
    /// An uploaded file's id (`POST /api/uploads`), for `attachments`.
    UploadId,
}
