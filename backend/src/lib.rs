//! Natter, the chat server, as a library: the binary in `main.rs` is a thin shell around
//! [`startup::Application`] and [`cli`], and the integration tests start the same server.

pub mod api;
pub mod auth;
pub mod bot;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod limiter;
pub mod metrics;
pub mod posting;
pub mod realtime;
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
use limiter::RateLimiter;
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
    pub limiter: RateLimiter,
    /// The chat bot's user id.
    pub bot_id: UserId,
    /// `/sms` per user.
    pub sms_limiter: RateLimiter,
    /// Failed logins per username (its case-folded key) and per client address.
    pub login_names: RateLimiter<String>,
    pub login_addrs: RateLimiter<std::net::IpAddr>,
    /// Rung when a job is queued, so that the in-process worker starts on it at once.
    pub jobs_wake: std::sync::Arc<tokio::sync::Notify>,
}

impl AppState {
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
