//! The app's views.

pub mod account;
pub mod admin;
pub mod app;
pub mod auth_page;
pub mod avatar;
pub mod composer;
pub mod directory;
pub mod members;
pub mod messages;
pub mod pane;
pub mod rich;
pub mod search;
pub mod sidebar;
pub mod switcher;
pub mod user_picker;
