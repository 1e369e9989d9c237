//! Takes the README's screenshots of the web app, at desktop and phone width, into
//! `docs/screenshots/`: a real server with a little conversation, and headless Chromium.
//!
//! Run with `cargo run -p natter-e2e --bin screenshots` after `trunk build --release`
//! (needs chromedriver: scripts/setup installs it).

use anyhow::{Context, Result};
use natter_e2e::{Browser, Driver, Server};
use std::path::PathBuf;

const PASSWORD: &str = "correct horse battery";

async fn save(page: &Browser, name: &str) -> Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&dir)?;
    let png = page.client.screenshot().await?;
    let path = dir.join(name);
    std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote docs/screenshots/{name}");
    Ok(())
}

#[actix_web::main]
async fn main() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    eprintln!("server at {}", server.url("/"));

    let mut tokens = Vec::new();
    for name in ["alice", "bob", "carol"] {
        tokens.push(server.sign_up(name, PASSWORD).await?);
    }
    let general = server.create_room(&tokens[1], "general").await?;
    server.create_room(&tokens[2], "design").await?;
    server.create_room(&tokens[2], "random").await?;
    let base = server.url("");
    for (who, body) in [
        (1, "Morning all! The new build is up on staging."),
        (
            1,
            "**What changed:**\n- the reconnect fix\n- `since` on join\n\nNotes: https://example.com/notes",
        ),
        (2, "Nice. Does it have the reconnect fix?"),
        (
            1,
            "It does: pull the cable, plug it back, and the room catches up.",
        ),
        (2, "/me tries it right away"),
    ] {
        Server::post(&base, &tokens[who], general, body).await?;
    }

    let phone_page = driver.browser(390, 844).await?;
    phone_page.goto(&server.url("/")).await?;
    phone_page.wait_for("#username").await?;
    save(&phone_page, "phone-sign-in.png").await?;

    let desktop = driver.browser(1280, 800).await?;
    desktop
        .enter(&server.url("/rooms/general"), "alice", PASSWORD, false)
        .await?;
    desktop
        .wait_message("It does: pull the cable, plug it back, and the room catches up.")
        .await?;
    desktop
        .say("Works here: I went offline, typed this, and it arrived once.")
        .await?;
    desktop.say("/now").await?;
    desktop.wait_text(".message.bot .body", "UTC").await?;
    Server::post(&base, &tokens[2], general, "Lovely. See you in #design?").await?;
    desktop.wait_message("Lovely. See you in #design?").await?;

    phone_page
        .enter(&server.url("/rooms/general"), "bob", PASSWORD, false)
        .await?;
    phone_page
        .wait_message("Lovely. See you in #design?")
        .await?;
    save(&phone_page, "phone-chat.png").await?;

    save(&desktop, "desktop-chat.png").await?;
    desktop.type_into("#composer-input", "/").await?;
    desktop.wait_for("#command-help").await?;
    save(&desktop, "desktop-commands.png").await?;
    desktop.close().await?;
    phone_page.close().await?;
    Ok(())
}
