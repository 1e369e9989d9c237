//! The types the Natter server and its web app both speak: REST bodies, WebSocket frames,
//! validated names, error kinds and limits. Builds for wasm32; knows nothing of storage or HTTP.

pub mod api;
pub mod commands;
pub mod error;
pub mod ids;
pub mod limits;
pub mod markdown;
pub mod mentions;
pub mod names;
pub mod rfc3339;
pub mod ws;

pub use api::*;
pub use error::{ErrorBody, ErrorKind};
pub use ids::{MessageId, RoomId, UploadId, UserId};
pub use names::{
    ClientId, MessageBody, NameError, Password, PhoneNumber, RoomName, Topic, Username,
};
