//! Natter, the chat server, as a library: the binary in `main.rs` is a thin shell around
//! [`startup::Application`] and [`cli`], and the integration tests start the same server.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod startup;
pub mod telemetry;
mod web_app;

use auth::Auth;
use config::Settings;
use db::Database;
use db::writer::MessageWriter;

/// What every handler can reach: shared, cheap to clone behind `web::Data`.
pub struct AppState {
    pub settings: Settings,
    pub db: Database,
    pub writer: MessageWriter,
    pub auth: Auth,
}
