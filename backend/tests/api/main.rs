//! Server tests: each starts the real server on port 0 with a fresh database (a SQLite file,
//! or a Postgres database with `NATTER_TEST_POSTGRES`); `cluster` runs several nodes on this
//! machine's Postgres and Redis; `outages` brings faults from outside (killed connections, a full
//! disk, a held lock).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "in tests, a failed expectation is a failed test"
)]

mod abuse;
mod admin;
mod auth;
mod bot;
mod cli;
mod cluster;
mod errors;
mod faults;
mod files;
mod helpers;
mod jobs;
mod membership;
mod messages;
mod outages;
mod reads;
mod recent;
mod rooms;
mod search;
mod users;
mod ws;
mod ws_client;
