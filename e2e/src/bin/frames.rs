//! Measures the web app in headless Chromium where a user feels it:
//!
//! - **a first visit on a slow link** (1.6 Mbit/s, 150 ms each way, set through chromedriver,
//!   an empty cache): when the loading screen is painted (first contentful paint), when the
//!   app is usable (it marks `natter-mounted` once the sign-in page is drawn), and the bytes
//!   that crossed the wire;
//! - **scrolling up through a room of 1,000 messages** (`FRAMES_MESSAGES` to change; one
//!   author's, or two in turn with `FRAMES_AUTHORS=2`), from the newest to the first,
//!   reading older pages from the server on the way: the longest frame (the longest gap
//!   between two animation frames) and the longest task;
//! - **20 messages a second arriving** for ten seconds in the open room (posted by another
//!   user over REST), the reader at the bottom: the same two figures. `FRAMES_SLOWDOWN=2`
//!   runs both with the page's CPU throttled to half speed.
//!
//! Run with `scripts/bench frames` (or `cargo run --release -p natter-e2e --bin frames`
//! after `trunk build --release`; needs chromedriver: scripts/setup installs it).

use anyhow::{Context, Result, bail};
use natter_e2e::{Browser, Driver, Server};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

/// Starts watching the page's frames: every animation frame's gap to the one before, and
/// every long task (over 50 ms), and the most rows the list drew, kept in `window.natterFrames`
/// until `window.natterFrames.stop` is set.
/// With `scroll`, each frame also scrolls the list up by a screen's worth of pixels, until
/// the list shows the start of the room.
const WATCH: &str = r#"
const scroll = arguments[0];
const f = window.natterFrames = { longest: 0, longestTask: 0, count: 0, mostRows: 0, stop: false, done: false };
new PerformanceObserver(list => {
  for (const e of list.getEntries()) f.longestTask = Math.max(f.longestTask, e.duration);
}).observe({ type: 'longtask' });
let last = performance.now();
function tick(now) {
  const rows = document.querySelectorAll('#message-list li.message').length;
  if (now - last > f.longest) { f.longest = now - last; f.longestAt = [f.count, rows]; }
  f.count += 1;
  last = now;
  f.mostRows = Math.max(f.mostRows, rows);
  if (scroll) {
    const m = document.querySelector('.messages');
    m.scrollTop = Math.max(0, m.scrollTop - m.clientHeight);
    if (document.querySelector('.history-edge')?.textContent.includes('start of the room')) {
      f.stop = true;
    }
  }
  if (f.stop) { f.done = true; } else { requestAnimationFrame(tick); }
}
requestAnimationFrame(tick);
"#;

/// Waits for the watch to end (the room's start reached, or `stop` set), up to `limit`;
/// the longest frame and the longest task, in ms, the frames seen and the most rows drawn.
async fn watched(page: &Browser, limit: Duration) -> Result<(f64, f64, u64, u64)> {
    let deadline = Instant::now() + limit;
    loop {
        let f = page
            .client
            .execute(
                "return Object.assign({ rows: document.querySelectorAll('#message-list li.message').length },
                                      window.natterFrames)",
                vec![],
            )
            .await?;
        eprint!("\r{} rows drawn, {} frames", f["rows"], f["count"]);
        if f["done"] == serde_json::json!(true) {
            eprintln!(
                " (the longest frame: [frame, rows drawn] {})",
                f["longestAt"]
            );
            return Ok((
                f["longest"].as_f64().unwrap_or(0.0),
                f["longestTask"].as_f64().unwrap_or(0.0),
                f["count"].as_u64().unwrap_or(0),
                f["mostRows"].as_u64().unwrap_or(0),
            ));
        }
        if Instant::now() > deadline {
            bail!("the page did not finish within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints the functions a CPU profile (the DevTools protocol's `Profiler.Profile`) saw
/// running most, by their own time.
#[allow(clippy::print_stdout, reason = "the figures are this program's output")]
fn busiest(profile: &serde_json::Value) {
    let (Some(nodes), Some(samples), Some(deltas)) = (
        profile["nodes"].as_array(),
        profile["samples"].as_array(),
        profile["timeDeltas"].as_array(),
    ) else {
        return;
    };
    let name: std::collections::HashMap<u64, String> = nodes
        .iter()
        .map(|n| {
            let frame = &n["callFrame"];
            let url = frame["url"].as_str().unwrap_or("");
            (
                n["id"].as_u64().unwrap_or(0),
                format!(
                    "{} {}",
                    frame["functionName"].as_str().unwrap_or(""),
                    url.rsplit('/').next().unwrap_or("")
                ),
            )
        })
        .collect();
    let mut own: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for (sample, delta) in samples.iter().zip(deltas.iter().skip(1)) {
        let who = name
            .get(&sample.as_u64().unwrap_or(0))
            .map_or("?", String::as_str);
        *own.entry(who).or_default() += delta.as_f64().unwrap_or(0.0) / 1000.0;
    }
    let mut top: Vec<_> = own.into_iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (who, ms) in top.into_iter().take(30) {
        println!("{ms:9.1} ms  {who}");
    }
    // The longest stretch without an idle sample, and what ran in it, callers included.
    let parent: std::collections::HashMap<u64, u64> = nodes
        .iter()
        .flat_map(|n| {
            let id = n["id"].as_u64().unwrap_or(0);
            n["children"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |c| Some((c.as_u64()?, id)))
        })
        .collect();
    let idle = |s: &serde_json::Value| {
        name.get(&s.as_u64().unwrap_or(0))
            .is_some_and(|n| n.starts_with("(idle)"))
    };
    let (mut best, mut start, mut run) = ((0, 0), 0, 0.0_f64);
    let mut longest = 0.0_f64;
    for (i, (sample, delta)) in samples.iter().zip(deltas.iter().skip(1)).enumerate() {
        if idle(sample) {
            start = i + 1;
            run = 0.0;
        } else {
            run += delta.as_f64().unwrap_or(0.0) / 1000.0;
            if run > longest {
                longest = run;
                best = (start, i + 1);
            }
        }
    }
    println!("the longest busy stretch: {longest:.1} ms; in it, with callers:");
    let mut within: std::collections::HashMap<&str, f64> = std::collections::HashMap::new();
    for (sample, delta) in samples[best.0..best.1]
        .iter()
        .zip(deltas.iter().skip(best.0 + 1))
    {
        let mut seen = std::collections::HashSet::new();
        let mut at = sample.as_u64().unwrap_or(0);
        loop {
            let who = name.get(&at).map_or("?", String::as_str);
            if seen.insert(who) {
                *within.entry(who).or_default() += delta.as_f64().unwrap_or(0.0) / 1000.0;
            }
            match parent.get(&at) {
                Some(&p) => at = p,
                None => break,
            }
        }
    }
    let mut top: Vec<_> = within.into_iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (who, ms) in top.into_iter().take(40) {
        println!("{ms:9.1} ms  {who}");
    }
}

#[allow(clippy::print_stdout, reason = "the figures are this program's output")]
#[actix_web::main]
async fn main() -> Result<()> {
    let messages: usize = std::env::var("FRAMES_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let server = Server::start().await?;
    let driver = Driver::start().await?;

    // The server compresses the app's files in the background after it starts: a first
    // visit is measured once they are ready.
    let page = reqwest::get(server.url("/")).await?.text().await?;
    let wasm = page
        .split(['"', '\''])
        .find(|s| s.ends_with(".wasm"))
        .context("the page names no .wasm")?
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let answer = reqwest::Client::new()
            .get(server.url(&wasm))
            .header("accept-encoding", "br")
            .send()
            .await?;
        if answer.headers().get("content-encoding").is_some() {
            break;
        }
        if Instant::now() > deadline {
            bail!("{wasm} is not served compressed");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A first visit on a slow link.
    let page = driver.browser(1280, 800).await?;
    driver.throttle(&page, 150, 1_600_000).await?;
    page.goto(&server.url("/")).await?;
    page.wait_for("#username").await?;
    let visit = page
        .client
        .execute(
            "return [
               performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
               performance.getEntriesByName('natter-mounted')[0]?.startTime ?? null,
               performance.getEntriesByType('resource').reduce((n, r) => n + r.transferSize, 0)
                 + performance.getEntriesByType('navigation')[0].transferSize]",
            vec![],
        )
        .await?;
    let ms = |i: usize| visit[i].as_f64().context("the page gave no time");
    println!(
        "first visit at 1.6 Mbit/s, 150 ms: loading screen at {:.0} ms, usable at {:.0} ms, {} bytes",
        ms(0)?,
        ms(1)?,
        visit[2].as_u64().unwrap_or(0)
    );
    page.close().await?;

    // Scrolling up through a long room.
    let token = server.sign_up("reader", PASSWORD).await?;
    let writer = server.sign_up("writer", PASSWORD).await?;
    let room = server.create_room(&token, "long").await?;
    server.add_member(&token, room, "writer").await?;
    // FRAMES_AUTHORS=2: every other message is the reader's own, so that every row heads a
    // group (its author's name and picture) instead of continuing one person's run.
    let authors = if std::env::var("FRAMES_AUTHORS").is_ok_and(|n| n == "2") {
        vec![writer.clone(), token.clone()]
    } else {
        vec![writer.clone()]
    };
    let base = server.url("");
    eprintln!("seeding {messages} messages…");
    for i in 0..messages {
        Server::post(
            &base,
            &authors[i % authors.len()],
            room,
            &format!("message {i}: **words** about `things`"),
        )
        .await?;
    }
    let page = driver.browser(1280, 800).await?;
    page.enter(&server.url("/rooms/long"), "reader", PASSWORD, false)
        .await?;
    page.wait_for("#message-list li.message").await?;
    // FRAMES_SLOWDOWN=N: the page's CPU N times slower (Chromium's own throttling), for the
    // scrolling and the live messages; to compare builds with some margin on a fast machine.
    if let Some(rate) = std::env::var("FRAMES_SLOWDOWN")
        .ok()
        .and_then(|n| n.parse::<f64>().ok())
    {
        driver
            .cdp(
                &page,
                "Emulation.setCPUThrottlingRate",
                serde_json::json!({ "rate": rate }),
            )
            .await?;
    }
    // FRAMES_PROFILE=1: a CPU profile of the scrolling, its busiest functions printed.
    let profile = std::env::var_os("FRAMES_PROFILE").is_some();
    if profile {
        driver
            .cdp(&page, "Profiler.enable", serde_json::json!({}))
            .await?;
        driver
            .cdp(
                &page,
                "Profiler.setSamplingInterval",
                serde_json::json!({ "interval": 200 }),
            )
            .await?;
        driver
            .cdp(&page, "Profiler.start", serde_json::json!({}))
            .await?;
    }
    page.client.execute(WATCH, vec![true.into()]).await?;
    let started = Instant::now();
    let (frame, task, frames, rows) =
        watched(&page, Duration::from_secs((messages as u64 / 10).max(120))).await?;
    if profile {
        let taken = driver
            .cdp(&page, "Profiler.stop", serde_json::json!({}))
            .await?;
        busiest(&taken["profile"]);
    }
    println!(
        "scrolling up through {messages} messages ({:.0} s, {frames} frames, at most {rows} rows drawn): longest frame {frame:.0} ms, longest task {task:.0} ms",
        started.elapsed().as_secs_f64()
    );

    // 20 messages a second for ten seconds, the reader at the bottom: scrolled down until
    // the list draws its newest 100 again (it slides down a step at a time), then timed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while page
        .client
        .execute(
            "const m = document.querySelector('.messages'); m.scrollTop = m.scrollHeight;
             return document.querySelector('#jump-latest') !== null
               || document.querySelectorAll('#message-list li.message').length > 100",
            vec![],
        )
        .await?
        == serde_json::json!(true)
    {
        if Instant::now() > deadline {
            bail!("the list did not come back to its newest 100 rows");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page.client.execute(WATCH, vec![false.into()]).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    for i in 0..200 {
        tick.tick().await;
        Server::post(&base, &writer, room, &format!("live {i}: _fresh_ news")).await?;
    }
    page.wait_message("live 199: fresh news").await?;
    page.client
        .execute("window.natterFrames.stop = true", vec![])
        .await?;
    let (frame, task, frames, rows) = watched(&page, Duration::from_secs(10)).await?;
    println!(
        "20 messages a second for 10 s ({frames} frames, at most {rows} rows drawn): longest frame {frame:.0} ms, longest task {task:.0} ms"
    );
    page.close().await?;
    Ok(())
}
