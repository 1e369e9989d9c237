//! Measures how long the web app takes to open a room holding 1,000 loaded Markdown messages
//! in headless Chromium: a real server, a room seeded over REST, the reader scrolled back
//! to its first message (so that all of them are loaded and were drawn once), and then,
//! timed in the page, switching to that room from another one until its rows are laid out
//! and the next frame is due. The list draws the newest 100 loaded messages (its window),
//! so that is what a switch waits for. `RENDER_MESSAGES=5000` loads 5,000 instead.
//!
//! Run with `scripts/bench render` (or `cargo run --release -p natter-e2e --bin render`
//! after `trunk build --release`; needs chromedriver: scripts/setup installs it).

use anyhow::{Context, Result, bail};
use natter_e2e::{Driver, Server};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";
/// The rows the message list draws of a room's loaded messages when it opens (`WINDOW` in
/// `frontend/src/components/messages.rs`).
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
/// or asks for the next page; says how many messages the list shows.
const LOAD_OLDER: &str = "document.querySelector('.messages').scrollTop = 0; \
    return document.querySelectorAll('#message-list li.message').length;";

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
    let base = server.url("");
    eprintln!("seeding {messages} Markdown messages…");
    for i in 0..messages {
        Server::post(&base, &token, room, &body(i)).await?;
    }

    let page = driver.browser(1280, 800).await?;
    page.enter(&server.url("/rooms/history"), "reader", PASSWORD, false)
        .await?;
    page.wait_for("#message-list li.message").await?;
    // Read the whole history in: older pages load from the top of the list.
    // About 35 messages a second come in this way on a two-core machine.
    let deadline = Instant::now() + Duration::from_secs((messages as u64 / 15).max(120));
    loop {
        let shown = page
            .client
            .execute(LOAD_OLDER, vec![])
            .await?
            .as_u64()
            .context("the page gave no count")? as usize;
        eprint!("\r{shown}/{messages} messages in the list");
        if shown >= messages {
            eprintln!();
            break;
        }
        if Instant::now() > deadline {
            bail!("only {shown} of {messages} messages were shown in time");
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
