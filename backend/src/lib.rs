//! Natter, the chat server, as a library: the binary in `main.rs` is a thin shell around
//! [`startup::Application`] and [`cli`], and the integration tests start the same server.

pub mod api;
pub mod auth;
pub mod bot;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod limiter;
pub mod metrics;
pub mod net;
pub mod posting;
pub mod reads;
pub mod realtime;
pub mod room_lists;
pub mod search;
pub mod security;
pub mod startup;
pub mod telemetry;
mod web_app;
pub mod worker;

use auth::Auth;
use config::Settings;
use db::Database;
use db::writer::MessageWriter;
use error::{ApiError, ApiResult};
use limiter::Limits;
use natter_shared::{Room, RoomId, UserId};
use realtime::Hub;

/// What every handler and session can reach, behind an `Arc`.
pub struct AppState {
    pub settings: Settings,
    pub db: Database,
    pub writer: MessageWriter,
    pub auth: Auth,
    pub hub: Hub,
    /// What `/metrics` reports; every part that counts holds this.
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// Every rate and count limit.
    pub limits: Limits,
    /// The chat bot's user id.
    pub bot_id: UserId,
    /// Rung when a job is queued, so that the in-process worker starts on it at once.
    pub jobs_wake: std::sync::Arc<tokio::sync::Notify>,
    /// Where read markers queue to be stored and told.
    pub markers: reads::Markers,
    /// Uploaded files.
    pub files: files::Files,
}

impl AppState {
    /// The client address of a request, as the limits count it.
    pub fn client(&self, req: &actix_web::HttpRequest) -> Option<net::AddrKey> {
        net::client_key(req, &self.settings.trusted_proxies)
    }

    /// The room, if the user may see it; otherwise 404, whether it exists or not.
    pub async fn visible_room(&self, id: RoomId, user: UserId) -> ApiResult<Room> {
        self.db
            .run(move |conn| {
                db::rooms::visible(conn, id, user)?
                    .ok_or_else(|| ApiError::not_found(format!("room {id}")))
            })
            .await
    }
}
