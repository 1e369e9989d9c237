//! Measures how long the web app takes to open a room of 1,000 Markdown messages in headless
//! Chromium: a real server, a room seeded over REST, the reader scrolled back to its first
//! message (so that all of them were loaded and drawn once; a room left keeps its newest),
//! and then,
//! timed in the page, switching to that room from another one until its rows are laid out
//! and the next frame is due. The list draws the newest 100 loaded messages (its window),
//! so that is what a switch waits for. `RENDER_MESSAGES=5000` loads 5,000 instead;
//! `RENDER_AUTHORS=2` makes every other message another user's (one author by default).
//!
//! Run with `scripts/bench render` (or `cargo run --release -p natter-e2e --bin render`
//! after `trunk build --release`; needs chromedriver: scripts/setup installs it).

use anyhow::{Context, Result, bail};
use natter_e2e::{Driver, Server};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";
/// The rows the message list draws of a room's loaded messages when it opens (`FIRST_ROWS` in
/// `frontend/src/window.rs`).
const DRAWN: usize = 100;
const ROUNDS: usize = 7;

/// Every fourth message is plain; the others use the Markdown a team writes.
fn body(i: usize) -> String {
    match i % 4 {
        0 => format!("Message {i}: plain words about the release, nothing marked up."),
        1 => {
            format!("**Build {i}** is _green_; see https://example.com/builds/{i} and `cargo test`")
        }
        2 => format!("Notes for {i}:\n- the reconnect fix\n- `since` on join\n- ~~old flag~~ gone"),
        _ => format!("> quoted line {i}\n\n```\nfn main() {{ println!(\"{i}\"); }}\n```"),
    }
}

/// Scrolls to the top of the list, as a reader does, which draws the older messages loaded
/// or asks for the next page; gives the oldest message drawn and whether it is the room's
/// first (the list draws at most a few hundred rows, so it says how far the reader got).
const LOAD_OLDER: &str = "document.querySelector('.messages').scrollTop = 0; \
    return [document.querySelector('#message-list li.message .body')?.textContent ?? '', \
            document.querySelector('.history-edge').textContent.includes('start of the room')];";

/// Switches from `other` to the seeded room and back, timing the way in: from the click
/// until all messages are in the list and a frame has been painted after them.
const TIME_SWITCH: &str = r#"
const [target, count, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const t0 = performance.now();
document.querySelector(`a.room-link[data-room='${target}']`).click();
function check() {
  if (document.querySelectorAll('#message-list li.message').length >= count) {
    requestAnimationFrame(() => done(performance.now() - t0));
  } else {
    requestAnimationFrame(check);
  }
}
check();
"#;

#[allow(clippy::print_stdout, reason = "the figure is this program's output")]
#[actix_web::main]
async fn main() -> Result<()> {
    let messages: usize = std::env::var("RENDER_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let token = server.sign_up("reader", PASSWORD).await?;
    let room = server.create_room(&token, "history").await?;
    server.create_room(&token, "elsewhere").await?;
    // RENDER_AUTHORS=2: every other message is someone else's, so that every row heads a
    // group of its own (its author's name and picture), rather than continuing the one
    // before it as a run of one person's messages does.
    let mut authors = vec![token.clone()];
    if std::env::var("RENDER_AUTHORS").is_ok_and(|n| n == "2") {
        authors.push(server.sign_up("other", PASSWORD).await?);
        server.add_member(&token, room, "other").await?;
    }
    let base = server.url("");
    eprintln!("seeding {messages} Markdown messages…");
    for i in 0..messages {
        Server::post(&base, &authors[i % authors.len()], room, &body(i)).await?;
    }

    let page = driver.browser(1280, 800).await?;
    page.enter(&server.url("/rooms/history"), "reader", PASSWORD, false)
        .await?;
    page.wait_for("#message-list li.message").await?;
    // Read the whole history in: older pages load from the top of the list.
    // About 35 messages a second come in this way on a two-core machine.
    let deadline = Instant::now() + Duration::from_secs((messages as u64 / 15).max(120));
    loop {
        let top = page.client.execute(LOAD_OLDER, vec![]).await?;
        let oldest = top[0].as_str().unwrap_or("");
        eprint!(
            "\rthe oldest drawn: {:<60}",
            oldest.lines().next().unwrap_or("")
        );
        if top[1] == serde_json::json!(true) {
            eprintln!();
            break;
        }
        if Instant::now() > deadline {
            bail!("the room's first message was not reached in time (at {oldest:?})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut times = Vec::new();
    for round in 0..ROUNDS {
        page.click("a.room-link[data-room='elsewhere']").await?;
        page.wait_path("/rooms/elsewhere").await?;
        let ms = page
            .client
            .execute_async(
                TIME_SWITCH,
                vec!["history".into(), messages.min(DRAWN).into()],
            )
            .await?
            .as_f64()
            .context("the page gave no time")?;
        eprintln!("round {}: {ms:.0} ms", round + 1);
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "opening a room of {messages} loaded Markdown messages: median {:.0} ms, best {:.0} ms, worst {:.0} ms ({ROUNDS} rounds)",
        times[ROUNDS / 2],
        times[0],
        times[ROUNDS - 1]
    );
    page.close().await?;
    Ok(())
}
