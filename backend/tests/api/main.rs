//! REST API tests: each starts the real server on port 0 with a fresh SQLite file.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "in tests, a failed expectation is a failed test"
)]

mod admin;
mod auth;
mod bot;
mod cli;
mod errors;
mod faults;
mod helpers;
mod jobs;
mod messages;
mod rooms;
mod users;
mod ws;
mod ws_client;
