//! The web app in headless Chromium against the real server: what people do with it.
//! Needs the built app (`trunk build --release`) and chromedriver (scripts/setup).

use anyhow::{Context, Result, ensure};
use fantoccini::key::Key;
use natter::config::RateLimit;
use natter_e2e::{Browser, Driver, PATIENCE, Server};
use std::time::{Duration, Instant};

const DESKTOP: (u32, u32) = (1280, 800);
const PASSWORD: &str = "correct horse battery";

async fn browser(driver: &Driver) -> Result<Browser> {
    driver.browser(DESKTOP.0, DESKTOP.1).await
}

#[actix_web::test]
async fn two_people_chat_live_in_a_room_one_of_them_created() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    let (alice, bob) = (browser(&driver).await?, browser(&driver).await?);
    alice
        .enter(&server.url("/"), "alice", PASSWORD, true)
        .await?;
    bob.enter(&server.url("/"), "bob", PASSWORD, true).await?;

    // Alice creates a room; Bob finds it in the directory and joins it.
    alice.type_into("#new-room-name", "lobby").await?;
    alice.click("#create-room").await?;
    alice.wait_path("/rooms/lobby").await?;
    alice.wait_text("#room-title", "# lobby").await?;
    bob.click("#directory-link").await?;
    bob.wait_text("#directory-results", "lobby").await?;
    bob.click(".directory-room[data-room='lobby'] button.join")
        .await?;
    bob.wait_path("/rooms/lobby").await?;
    bob.wait_text("#rooms", "lobby").await?;
    alice.wait_text("#online", "bob").await?;

    // Typing shows to the other.
    let composer = bob.wait_for("#composer-input").await?;
    composer.send_keys("h").await?;
    alice.wait_text("#typing", "bob is typing").await?;
    composer.clear().await?;

    // Both ways, live; own messages are set apart.
    alice.say("hello bob").await?;
    bob.wait_message("hello bob").await?;
    bob.say("hi alice").await?;
    alice.wait_message("hi alice").await?;
    alice.wait_text(".message.own .body", "hello bob").await?;
    ensure!(
        !bob.texts(".message.own .body")
            .await?
            .contains(&"hello bob".to_owned()),
        "alice's message is not bob's own"
    );

    // Markup is text: no element is made from a message body.
    let payload = "<img src=x onerror=alert(1)>";
    alice.say(payload).await?;
    bob.wait_message(payload).await?;
    ensure!(
        bob.client
            .find_all(fantoccini::Locator::Css("#message-list .body img"))
            .await?
            .is_empty()
    );

    // A right-to-left override reorders the rest of its own line, nothing outside it: the
    // text is isolated (dir=auto, unicode-bidi: isolate, one <bdi> per line).
    let reversing = "left \u{202E}right";
    alice.say(reversing).await?;
    bob.wait_message(reversing).await?;
    let isolation = bob
        .client
        .execute(
            "const b = [...document.querySelectorAll('.message .body')]
                 .find(e => e.textContent.includes('\\u202E'));
             return b ? [getComputedStyle(b).unicodeBidi, b.getAttribute('dir'),
                         b.querySelectorAll('bdi').length] : null;",
            vec![],
        )
        .await?;
    ensure!(
        isolation == serde_json::json!(["isolate", "auto", 1]),
        "the message is isolated: {isolation}"
    );

    // Markdown shows as elements made by the app, never as HTML from the text: bold is
    // <strong>, a javascript: link is no link, a bare address is one, opening a new tab
    // with neither opener nor referrer.
    alice
        .say("**bold** and [bad](javascript:alert(1)) and https://example.com/x.")
        .await?;
    bob.wait_text(".message .body strong", "bold").await?;
    let links = bob
        .client
        .execute(
            "return [...document.querySelectorAll('.message .body a')]
                 .map(a => [a.getAttribute('href'), a.getAttribute('rel'), a.getAttribute('target')]);",
            vec![],
        )
        .await?;
    ensure!(
        links
            == serde_json::json!([[
                "https://example.com/x",
                "noopener noreferrer nofollow",
                "_blank"
            ]]),
        "one link, the safe one: {links}"
    );

    // Alice's last three messages came within five minutes: one header, today's separator.
    bob.wait_text(".message-list .day", "Today").await?;
    let continued = bob.texts(".message.continued").await?.len();
    ensure!(
        continued >= 2,
        "alice's run of messages is grouped: {continued}"
    );
    // The picture heads a group: every message that starts one has it, no other.
    let pictured = bob
        .client
        .execute(
            "return [...document.querySelectorAll('#message-list li.message')]
                 .filter(li => li.classList.contains('continued') === !!li.querySelector('.avatar')).length",
            vec![],
        )
        .await?;
    ensure!(
        pictured == 0,
        "{pictured} rows have a picture that should not, or lack one"
    );

    // Bob answers alice's first message; she sees the quote, and choosing it brings the
    // original into view with the focus on it.
    bob.act("hello bob", "reply").await?;
    bob.wait_text("#replying", "hello bob").await?;
    bob.say("answering that").await?;
    alice.wait_text(".message .quote", "hello bob").await?;
    alice.click(".message .quote").await?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let focused = alice
            .client
            .execute(
                "return document.activeElement?.querySelector('.body')?.textContent ?? null;",
                vec![],
            )
            .await?;
        if focused == serde_json::json!("hello bob") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the original has the focus: {focused}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bob reacts to "hello bob" through the picker; alice sees it at once; bob takes it
    // back with his own chip, and it is gone for her too.
    bob.act("hello bob", "react").await?;
    bob.click("button.pick[data-emoji='👍']").await?;
    alice.wait_text(".message .chip", "👍 1").await?;
    bob.wait_text(".message .chip.mine", "👍 1").await?;
    bob.click(".message .chip.mine").await?;
    let deadline = Instant::now() + PATIENCE;
    while !alice.texts(".message .chip").await?.is_empty() {
        ensure!(Instant::now() < deadline, "the reaction was taken back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The bot answers /now for everyone in the room.
    alice.say("/now").await?;
    bob.wait_text(".message.bot .body", "UTC").await?;
    alice.wait_text(".message.bot .author", "natterbot").await?;

    // A reload keeps the session and shows the history, once each.
    bob.client.refresh().await?;
    bob.wait_online().await?;
    bob.wait_message("hello bob").await?;
    bob.wait_message(payload).await?;
    let bodies = bob.bodies().await?;
    ensure!(
        bodies.iter().filter(|b| *b == "hello bob").count() == 1,
        "shown once: {bodies:?}"
    );
    ensure!(
        bodies.first().map(String::as_str) == Some("hello bob"),
        "oldest first: {bodies:?}"
    );
    alice.close().await?;
    bob.close().await
}

#[actix_web::test]
async fn a_user_among_many_rooms_joins_only_the_one_open() -> Result<()> {
    let server = Server::start_with(|s| {
        s.max_rooms_per_user = 0;
        s.create_rate_limit = RateLimit::OFF;
    })
    .await?;
    let owner = server.sign_up("alice", PASSWORD).await?;
    for i in 0..130 {
        server.create_room(&owner, &format!("room-{i:03}")).await?;
    }
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;
    // The list comes in pages: the last room, from the second page, is listed.
    alice.wait_text("#rooms", "room-129").await?;
    alice.click("a[data-room='room-042']").await?;
    alice.wait_path("/rooms/room-042").await?;
    alice.wait_text("#online", "alice").await?;
    let metrics = reqwest::get(server.url("/metrics")).await?.text().await?;
    let active = metrics
        .lines()
        .find_map(|l| l.strip_prefix("natter_rooms_active "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    ensure!(
        active == Some(1.0),
        "one room live, not the 130 listed: {active:?}"
    );
    alice.close().await
}

#[actix_web::test]
async fn sign_in_mistakes_are_shown_next_to_the_field() -> Result<()> {
    let server = Server::start().await?;
    server.sign_up("alice", PASSWORD).await?;
    let driver = Driver::start().await?;
    let page = browser(&driver).await?;
    page.goto(&server.url("/")).await?;

    page.type_into("#username", "alice").await?;
    page.type_into("#password", "not the password").await?;
    page.click("#submit").await?;
    page.wait_text("#password-error", "username or password")
        .await?;

    page.click(".tabs button:nth-child(2)").await?;
    page.type_into("#username", "alice").await?;
    page.type_into("#password", "short").await?;
    page.click("#submit").await?;
    page.wait_text("#password-error", "8").await?;
    page.type_into("#password", PASSWORD).await?;
    page.click("#submit").await?;
    page.wait_text("#username-error", "taken").await?;

    // The page's Content-Security-Policy stops an injected inline script, while the app runs.
    let ran = page
        .client
        .execute(
            "const s = document.createElement('script'); \
             s.textContent = 'window.injected = true'; \
             document.body.appendChild(s); \
             return window.injected === true",
            vec![],
        )
        .await?;
    ensure!(
        ran == serde_json::Value::Bool(false),
        "an inline script ran"
    );
    page.close().await
}

#[actix_web::test]
async fn a_direct_conversation_reaches_the_other_and_no_one_else() -> Result<()> {
    let server = Server::start().await?;
    let mut tokens = Vec::new();
    for name in ["alice", "bob", "carol"] {
        tokens.push(server.sign_up(name, PASSWORD).await?);
    }
    let driver = Driver::start().await?;
    let (alice, bob, carol) = (
        browser(&driver).await?,
        browser(&driver).await?,
        browser(&driver).await?,
    );
    for (page, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        page.enter(&server.url("/"), name, PASSWORD, false).await?;
    }

    // Alice finds Bob in the picker and writes to him.
    alice.click("#new-dm").await?;
    alice.type_into("#user-search", "bo").await?;
    alice.click("button[data-user='bob']").await?;
    alice.wait_path("/dm/bob").await?;
    alice.say("just between us").await?;

    // Bob sees the new conversation with an unread count, then the message.
    bob.wait_text("#dms", "alice").await?;
    bob.wait_text("#dms .unread", "1").await?;
    bob.click("#dms a").await?;
    bob.wait_path("/dm/alice").await?;
    bob.wait_message("just between us").await?;

    // Carol hears of a room she is added to after it, but never of the conversation.
    let token = server.sign_up("dave", PASSWORD).await?;
    let later = server.create_room(&token, "later").await?;
    server.add_member(&token, later, "carol").await?;
    carol.wait_text("#rooms", "later").await?;
    ensure!(
        carol.texts("#dms li").await?.is_empty(),
        "carol sees no direct rooms"
    );
    // Deep links open direct conversations by name: Carol's with Bob is a draft, and
    // visiting it makes nothing that Bob would see.
    carol.goto(&server.url("/dm/bob")).await?;
    carol.wait_text("#room-title", "@ bob").await?;
    carol
        .wait_text(".history-edge", "start of your conversation with bob")
        .await?;
    ensure!(carol.bodies().await?.is_empty());
    let rooms = server.room_names(&tokens[1]).await?;
    ensure!(
        !rooms.iter().any(|r| r.contains("carol")),
        "a visit made a conversation: {rooms:?}"
    );
    // Her first message makes it, for both.
    carol.say("hi bob").await?;
    carol.wait_message("hi bob").await?;
    bob.wait_text("#dms", "carol").await?;
    carol.wait_text("#dms", "bob").await?;
    for page in [alice, bob, carol] {
        page.close().await?;
    }
    Ok(())
}

#[actix_web::test]
async fn after_a_restart_the_page_reconnects_and_catches_up() -> Result<()> {
    let mut server = Server::start().await?;
    let alice_token = server.sign_up("alice", PASSWORD).await?;
    let bob_token = server.sign_up("bob", PASSWORD).await?;
    let room = server.create_room(&alice_token, "news").await?;
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/news"), "alice", PASSWORD, false)
        .await?;
    alice.wait_text("#room-title", "# news").await?;
    alice.say("before the restart").await?;
    alice.wait_text(".message.own .meta time", ":").await?;

    server.stop().await;
    alice.wait_for("#link-state[data-link='offline']").await?;
    alice.wait_text(".offline-bar", "retrying").await?;
    // Who is online is not known meanwhile, and not shown in green.
    alice.wait_text("#online.stale", "unknown").await?;
    // Sent while alice's server is down: through another server on the same database.
    server
        .with_sibling(|base| async move {
            Server::post(&base, &bob_token, room, "sent while you were away").await
        })
        .await?;
    // Written while offline: shown as pending, sent once the socket is back.
    alice.say("typed while offline").await?;
    alice
        .wait_text(".message.pending .state", "sending")
        .await?;

    server.start_again(|_| {}).await?;
    alice.wait_online().await?;
    alice.wait_message("sent while you were away").await?;
    alice.wait_message("typed while offline").await?;
    let deadline = std::time::Instant::now() + natter_e2e::PATIENCE;
    while !alice.texts(".message.pending").await?.is_empty() {
        ensure!(
            std::time::Instant::now() < deadline,
            "the pending message was never acked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let shown = alice.bodies().await?;
    let stored = server.bodies(&alice_token, room).await?;
    assert_eq!(
        shown,
        [
            "before the restart",
            "sent while you were away",
            "typed while offline"
        ]
    );
    assert_eq!(shown, stored, "the page shows what is stored, once each");
    alice.close().await
}

#[actix_web::test]
async fn a_token_the_server_no_longer_accepts_sends_the_user_to_sign_in() -> Result<()> {
    let mut server = Server::start().await?;
    server.sign_up("alice", PASSWORD).await?;
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;

    // A new signing secret invalidates every token handed out before.
    server
        .start_again(|s| s.jwt_secret = Some("another secret of at least thirty-two bytes".into()))
        .await?;
    alice.wait_for("#username").await?;
    alice.wait_text(".notice", "session has ended").await?;
    alice
        .enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;
    alice.close().await
}

/// How far the message list is scrolled up from its end, in pixels.
async fn gap_to_bottom(page: &Browser) -> Result<f64> {
    let gap = page
        .client
        .execute(
            "const m = document.querySelector('.messages'); \
             return m.scrollHeight - m.scrollTop - m.clientHeight",
            vec![],
        )
        .await?;
    gap.as_f64()
        .ok_or_else(|| anyhow::anyhow!("no number: {gap}"))
}

#[actix_web::test]
async fn older_messages_load_as_the_reader_scrolls_up() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    let room = server.create_room(&token, "archive").await?;
    let base = server.url("");
    for n in 1..=60 {
        Server::post(&base, &token, room, &format!("note {n}")).await?;
    }
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/archive"), "alice", PASSWORD, false)
        .await?;
    alice.wait_message("note 60").await?;
    let first = alice.bodies().await?;
    ensure!(
        first.len() == 25 && first[0] == "note 36",
        "the latest 25: {first:?}"
    );

    // Scrolling to the top reads the page before, and again, until the start.
    let deadline = Instant::now() + PATIENCE;
    while alice
        .texts(".history-edge")
        .await?
        .iter()
        .all(|t| !t.contains("start of the room"))
    {
        ensure!(
            Instant::now() < deadline,
            "never reached the start: {:?} {:?} {:?}",
            alice.texts(".history-edge").await?,
            alice.bodies().await?.len(),
            alice
                .client
                .execute("const m = document.querySelector('.messages'); return [m.scrollTop, m.scrollHeight, m.clientHeight]", vec![])
                .await?
        );
        alice
            .client
            .execute("document.querySelector('.messages').scrollTop = 0", vec![])
            .await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected: Vec<String> = (1..=60).map(|n| format!("note {n}")).collect();
    ensure!(
        alice.bodies().await? == expected,
        "all 60, in order, once each"
    );

    // A reader up in the history stays there when a message comes in...
    Server::post(&base, &token, room, "note 61").await?;
    alice.wait_message("note 61").await?;
    ensure!(
        gap_to_bottom(&alice).await? > 500.0,
        "the list jumped to the end"
    );
    // Someone else's message meanwhile is offered below; the button takes the reader down.
    let bob = server.sign_up("bob", PASSWORD).await?;
    Server::post(&base, &bob, room, "from bob").await?;
    alice.wait_text("#new-below", "1 new message").await?;
    alice.click("#new-below").await?;
    wait_at_bottom(&alice).await?;
    alice.wait_gone("#new-below").await?;
    // A private notice comes into view even from up in the history.
    alice
        .client
        .execute("document.querySelector('.messages').scrollTop = 0", vec![])
        .await?;
    alice.say("/help").await?;
    alice
        .wait_text(".message.note", "only you can see this")
        .await?;
    wait_at_bottom(&alice).await?;
    // ...and one at the bottom follows it.
    Server::post(&base, &token, room, "note 62").await?;
    alice.wait_message("note 62").await?;
    wait_at_bottom(&alice).await?;
    alice.close().await
}

/// Waits until the message list shows its end.
async fn wait_at_bottom(page: &Browser) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while gap_to_bottom(page).await? > 50.0 {
        ensure!(
            Instant::now() < deadline,
            "the list did not come to its end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[actix_web::test]
async fn a_deep_link_to_a_missing_room_offers_to_create_it() -> Result<()> {
    let server = Server::start().await?;
    server.sign_up("alice", PASSWORD).await?;
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/picnic"), "alice", PASSWORD, false)
        .await?;
    alice.wait_text(".empty h2", "No room named").await?;
    alice.click(".empty button.primary").await?;
    alice.wait_text("#room-title", "# picnic").await?;
    alice.wait_text("#rooms", "picnic").await?;
    alice.close().await
}

#[actix_web::test]
async fn a_refused_message_can_be_retried_and_is_stored_once() -> Result<()> {
    // One message, then one every 4 s: the second, sent right after the first, is refused
    // however slow the machine (a second's allowance made this flaky under load).
    let server = Server::start_with(|s| {
        s.rate_limit = RateLimit {
            per_second: 0.25,
            burst: 1,
        }
    })
    .await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    let room = server.create_room(&token, "calm").await?;
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/calm"), "alice", PASSWORD, false)
        .await?;
    alice.say("first").await?;
    alice.say("second").await?;
    alice
        .wait_text(".message.failed .state", "not sent")
        .await?;

    // Retry until the bucket lets it through; each click resends the same client_id.
    let deadline = Instant::now() + PATIENCE;
    while !alice
        .texts(".message.failed, .message.pending")
        .await?
        .is_empty()
    {
        ensure!(
            Instant::now() < deadline,
            "the retried message was never stored"
        );
        if let Ok(button) = alice
            .client
            .find(fantoccini::Locator::Css(".message.failed .retry"))
            .await
        {
            match button.click().await {
                // The row was drawn again between finding its button and clicking it (a
                // retry answered meanwhile): look again.
                Err(e) if e.is_stale_element_reference() => {}
                clicked => clicked?,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.bodies(&token, room).await?, ["first", "second"]);
    alice.close().await
}

#[actix_web::test]
async fn edits_and_deletions_reach_the_room_and_admins_deactivate_accounts() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    server.sign_up("bob", PASSWORD).await?;
    server.make_admin("root", PASSWORD)?;
    server.create_room(&token, "edits").await?;
    let driver = Driver::start().await?;
    let (alice, bob, root) = (
        browser(&driver).await?,
        browser(&driver).await?,
        browser(&driver).await?,
    );
    alice
        .enter(&server.url("/rooms/edits"), "alice", PASSWORD, false)
        .await?;
    bob.enter(&server.url("/rooms/edits"), "bob", PASSWORD, false)
        .await?;

    alice.say("teh first").await?;
    alice.say("a mistake").await?;
    bob.wait_message("a mistake").await?;

    // Alice fixes her typo; Bob sees the new text, marked edited.
    alice.act("teh first", "edit").await?;
    alice.type_into("#edit-input", "the first").await?;
    alice.click(".edit-form button.primary").await?;
    bob.wait_message("the first").await?;
    bob.wait_text(".message .meta", "(edited)").await?;

    // She deletes the other one (confirming the browser's dialog); it leaves Bob's list.
    let menus = alice
        .client
        .find_all(fantoccini::Locator::Css(".message.own .menu-button"))
        .await?;
    ensure!(menus.len() == 2, "an actions menu on each own message");
    alice.act("a mistake", "delete").await?;
    alice.client.accept_alert().await?;
    let deadline = Instant::now() + PATIENCE;
    while bob.bodies().await?.contains(&"a mistake".to_owned()) {
        ensure!(Instant::now() < deadline, "the deleted message stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(bob.bodies().await? == ["the first"]);

    // An admin deactivates Bob: his page goes back to sign-in at once, saying why.
    root.enter(&server.url("/"), "root", PASSWORD, false)
        .await?;
    root.click("#admin-link").await?;
    root.type_into("#admin-search", "bob").await?;
    root.wait_text(".accounts tr[data-user='bob']", "active")
        .await?;
    // Not without a confirmation: dismissed, nothing happens.
    root.click(".accounts tr[data-user='bob'] button").await?;
    root.client.dismiss_alert().await?;
    ensure!(
        root.texts(".accounts tr[data-user='bob'] td.active")
            .await?
            == ["active"],
        "a dismissed confirmation deactivates nobody"
    );
    root.click(".accounts tr[data-user='bob'] button").await?;
    root.client.accept_alert().await?;
    root.wait_text(".accounts tr[data-user='bob']", "deactivated")
        .await?;
    // An admin is not offered their own deactivation (the server refuses it).
    root.type_into("#admin-search", "root").await?;
    root.wait_text(".accounts tr[data-user='root']", "active")
        .await?;
    ensure!(
        root.client
            .find_all(fantoccini::Locator::Css(
                ".accounts tr[data-user='root'] button"
            ))
            .await?
            .is_empty(),
        "no button on the admin's own row"
    );
    bob.wait_for("#username").await?;
    bob.wait_text(".notice", "session has ended").await?;
    for page in [alice, bob, root] {
        page.close().await?;
    }
    Ok(())
}

#[actix_web::test]
async fn the_account_page_sets_the_phone_and_changes_the_password() -> Result<()> {
    let server = Server::start().await?;
    server.sign_up("alice", PASSWORD).await?;
    let driver = Driver::start().await?;
    let (here, elsewhere) = (browser(&driver).await?, browser(&driver).await?);
    here.enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;
    elsewhere
        .enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;

    here.click("#account-link").await?;
    here.wait_path("/account").await?;
    here.type_into("#phone", "12345").await?;
    here.click("#save-phone").await?;
    here.wait_text("#phone-note", "E.164").await?;
    here.type_into("#phone", "+15551234567").await?;
    here.click("#save-phone").await?;
    here.wait_text("#phone-note", "+15551234567").await?;
    // The number is used once the code sent to it is entered.
    here.type_into("#phone-code", "000000x").await?;
    here.click("#verify-phone").await?;
    here.wait_text("#code-note", "wrong").await?;
    let code = server.sms_code("+15551234567").await?;
    here.type_into("#phone-code", &code).await?;
    here.click("#verify-phone").await?;
    here.wait_text("#phone-note", "Verified").await?;
    // Success reads as success, not in the warning colour.
    here.wait_for("#phone-note.success").await?;

    here.type_into("#current-password", "not my password")
        .await?;
    here.type_into("#new-password", "a brand new secret")
        .await?;
    here.click("#change-password").await?;
    here.wait_text("#password-note", "wrong").await?;
    here.type_into("#current-password", PASSWORD).await?;
    here.click("#change-password").await?;
    here.wait_text("#password-note", "Changed").await?;

    // This page carries on with the new token; the other device is signed out.
    elsewhere.wait_text(".notice", "session has ended").await?;
    here.wait_online().await?;
    here.client.refresh().await?;
    here.wait_online().await?;
    // After a reload the saved number is read back from the server.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let phone = here.wait_for("#phone").await?.prop("value").await?;
        if phone.as_deref() == Some("+15551234567") {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the phone was not kept: {phone:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    here.close().await?;
    elsewhere.close().await
}

#[actix_web::test]
async fn a_private_room_is_seen_by_its_members_alone_and_grows_live() -> Result<()> {
    let server = Server::start().await?;
    let driver = Driver::start().await?;
    server.sign_up("carol", PASSWORD).await?;
    let (alice, bob, carol) = (
        browser(&driver).await?,
        browser(&driver).await?,
        browser(&driver).await?,
    );
    alice
        .enter(&server.url("/"), "alice", PASSWORD, true)
        .await?;
    bob.enter(&server.url("/"), "bob", PASSWORD, true).await?;
    carol
        .enter(&server.url("/"), "carol", PASSWORD, false)
        .await?;

    // Alice makes a private room and sets its topic.
    alice.type_into("#new-room-name", "plans").await?;
    alice.click("#new-room-private").await?;
    alice.click("#create-room").await?;
    alice.wait_path("/rooms/plans").await?;
    alice.wait_text("#room-title", "plans").await?;
    alice.click("#edit-topic").await?;
    alice
        .type_into("#topic-input", "The surprise party")
        .await?;
    alice.click("#save-topic").await?;
    alice.wait_text("#room-topic", "The surprise party").await?;

    // She adds Bob from the members panel: the room appears in his sidebar without a reload.
    alice.click("#show-members").await?;
    alice.wait_text("#member-list", "alice").await?;
    alice.click("#add-member").await?;
    // The picker's search field has the cursor at once.
    wait_focus(&alice, "#user-search").await?;
    alice.type_into("#user-search", "bob").await?;
    alice
        .click("#user-results button.user[data-user='bob']")
        .await?;
    alice.wait_text("#member-list", "bob").await?;
    bob.wait_text("#rooms", "plans").await?;
    bob.click("a[data-room='plans']").await?;
    bob.wait_text("#room-topic", "The surprise party").await?;
    bob.say("I'll bring the cake").await?;
    alice.wait_message("I'll bring the cake").await?;

    // Removed by its owner, the room leaves Bob's page at once, saying so.
    alice
        .click("#member-list button.remove[data-user='bob']")
        .await?;
    bob.wait_text(".banner", "no longer a member").await?;
    bob.wait_text(".empty", "not a member of this room").await?;
    ensure!(
        !bob.texts("#rooms")
            .await?
            .iter()
            .any(|t| t.contains("plans")),
        "bob's sidebar lost the room"
    );

    // Carol never sees it: not in her sidebar, not in the directory, not by its link.
    carol.click("#directory-link").await?;
    carol
        .wait_text(".directory-body .hint", "No public room")
        .await?;
    ensure!(
        !carol
            .texts("#directory-results")
            .await?
            .iter()
            .any(|t| t.contains("plans")),
        "the directory shows no private room"
    );
    carol.goto(&server.url("/rooms/plans")).await?;
    carol.wait_text(".empty h2", "No room named").await?;
    ensure!(
        !carol
            .texts("#rooms")
            .await?
            .iter()
            .any(|t| t.contains("plans")),
        "carol's sidebar shows no private room"
    );
    for page in [alice, bob, carol] {
        page.close().await?;
    }
    Ok(())
}

#[actix_web::test]
async fn unread_badges_come_from_the_server_and_clear_on_every_device() -> Result<()> {
    let server = Server::start().await?;
    let alice = server.sign_up("alice", PASSWORD).await?;
    server.sign_up("bob", PASSWORD).await?;
    let room = server.create_room(&alice, "news").await?;
    server.add_member(&alice, room, "bob").await?;
    Server::post(&server.url(""), &alice, room, "already read").await?;
    let driver = Driver::start().await?;
    let (laptop, phone) = (browser(&driver).await?, browser(&driver).await?);
    laptop
        .enter(&server.url("/"), "bob", PASSWORD, false)
        .await?;
    laptop.click("#rooms a[data-room='news']").await?;
    laptop.wait_message("already read").await?;
    laptop.goto(&server.url("/")).await?;
    laptop.wait_online().await?;

    // Said while bob was away: the badges come with the room list.
    for body in ["first news", "second news", "@bob third, for you"] {
        Server::post(&server.url(""), &alice, room, body).await?;
    }
    phone
        .enter(&server.url("/"), "bob", PASSWORD, false)
        .await?;
    phone.wait_text("#rooms .unread", "3").await?;
    phone.wait_text("#rooms .mention-count", "@1").await?;
    phone.reload().await?;
    phone.wait_online().await?;
    phone.wait_text("#rooms .unread", "3").await?;
    laptop.reload().await?;
    laptop.wait_online().await?;
    laptop.wait_text("#rooms .unread", "3").await?;
    laptop.wait_text("#rooms a.has-unread", "news").await?;

    // Reading on the laptop: the line marks where the new messages start, and the phone's
    // badges go at once.
    laptop.click("#rooms a[data-room='news']").await?;
    laptop.wait_message("@bob third, for you").await?;
    if laptop
        .wait_text("#new-messages", "New messages")
        .await
        .is_err()
    {
        let html = laptop.client.source().await?;
        let at = html.find("message-list").unwrap_or(0);
        panic!("{}", &html[at..(at + 3000).min(html.len())]);
    }
    let rows = laptop
        .texts("#message-list > li.new-line, #message-list > li.message .body")
        .await?;
    let line = rows.iter().position(|t| t.contains("New messages"));
    let first = rows.iter().position(|t| t == "first news");
    ensure!(
        line.is_some() && line.map(|l| l + 1) == first,
        "the line sits right above the first new message: {rows:?}"
    );
    ensure!(
        !laptop.texts(".message.mentions-me .body").await?.is_empty(),
        "the message that mentions bob stands out"
    );
    phone.wait_gone("#rooms .unread").await?;
    phone.wait_gone("#rooms .mention-count").await?;
    laptop.wait_gone("#rooms .unread").await?;
    // And it stays read after a reload.
    phone.reload().await?;
    phone.wait_online().await?;
    phone.wait_text("#rooms", "news").await?;
    ensure!(phone.texts("#rooms .unread").await?.is_empty());
    // The phone never opened the room, so it gets no frames of it; coming back to the tab
    // reads the counts again. (The laptop, which has the room open, is closed first: it
    // would read the message at once.)
    laptop.close().await?;
    Server::post(&server.url(""), &alice, room, "fourth news").await?;
    phone
        .client
        .execute(
            "document.dispatchEvent(new Event('visibilitychange', { bubbles: true }))",
            vec![],
        )
        .await?;
    phone.wait_text("#rooms .unread", "1").await?;
    phone.close().await?;
    Ok(())
}

/// Replaces the page's Notification API with one that records what it is asked to show,
/// with permission granted, and makes the tab hidden: what a user away from the tab has.
const AWAY_WITH_NOTIFICATIONS: &str = r#"
    window.__shown = [];
    window.Notification = class {
        constructor(title, options) { window.__shown.push({ title, body: options && options.body }); }
        static get permission() { return 'granted'; }
        static requestPermission() { return Promise.resolve('granted'); }
        set onclick(f) {}
    };
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
"#;

#[actix_web::test]
async fn mentions_complete_in_the_composer_and_notify_a_hidden_tab() -> Result<()> {
    let server = Server::start().await?;
    let alice = server.sign_up("alice", PASSWORD).await?;
    server.sign_up("bob", PASSWORD).await?;
    let news = server.create_room(&alice, "news").await?;
    server.add_member(&alice, news, "bob").await?;
    let driver = Driver::start().await?;
    let (bob, alices) = (browser(&driver).await?, browser(&driver).await?);
    bob.enter(&server.url("/"), "bob", PASSWORD, false).await?;
    bob.click("#rooms a[data-room='news']").await?;
    bob.wait_for("#composer-input").await?;

    // `@` offers the room's members (not bob himself) and `@room`; Tab takes the first.
    bob.type_into("#composer-input", "hi @al").await?;
    bob.wait_text("#mention-help", "@alice").await?;
    ensure!(!bob.texts("#mention-help").await?.join(" ").contains("@bob"));
    bob.wait_for("#composer-input")
        .await?
        .send_keys(&fantoccini::key::Key::Tab.to_string())
        .await?;
    let typed = bob
        .client
        .execute(
            "return document.getElementById('composer-input').value",
            vec![],
        )
        .await?;
    ensure!(typed == "hi @alice ", "the mention completed: {typed}");
    bob.type_into("#composer-input", "@ro").await?;
    bob.wait_text("#mention-help", "@room").await?;

    // Bob walks away: the tab is hidden. A message that mentions him notifies; a plain one
    // does not (rooms notify of mentions by default).
    bob.client.execute(AWAY_WITH_NOTIFICATIONS, vec![]).await?;
    alices
        .enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;
    alices.click("#rooms a[data-room='news']").await?;
    alices.say("nothing for bob").await?;
    alices.say("@bob are you there?").await?;
    let deadline = Instant::now() + PATIENCE;
    let shown = loop {
        let shown = bob.client.execute("return window.__shown", vec![]).await?;
        if shown.as_array().is_some_and(|s| !s.is_empty()) || Instant::now() > deadline {
            break shown;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let shown = shown.as_array().cloned().unwrap_or_default();
    ensure!(shown.len() == 1, "one notification: {shown:?}");
    ensure!(shown[0]["title"] == "alice in #news", "{shown:?}");
    ensure!(shown[0]["body"] == "@bob are you there?", "{shown:?}");
    for page in [bob, alices] {
        page.close().await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_search_result_opens_its_room_at_the_message() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    let room = server.create_room(&token, "archive").await?;
    let base = server.url("");
    for n in 1..=150 {
        let body = if n == 30 {
            "the Walrus plan is approved".to_owned()
        } else {
            format!("note {n}")
        };
        Server::post(&base, &token, room, &body).await?;
    }
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/"), "alice", PASSWORD, false)
        .await?;

    // `/` from anywhere but a text field goes to the search box.
    alice
        .client
        .execute("document.body.focus()", vec![])
        .await?;
    press(&alice, "/").await?;
    let focused = alice
        .client
        .execute("return document.activeElement.id", vec![])
        .await?;
    ensure!(
        focused == "search",
        "the search box has the focus: {focused}"
    );
    let input = alice.wait_for("#search").await?;
    input.send_keys("walrus").await?;
    input.send_keys(&Key::Enter).await?;
    alice.wait_path("/search").await?;
    alice.wait_text(".search-hit", "approved").await?;
    ensure!(
        alice.texts(".search-hit mark").await? == ["Walrus"],
        "the matched word is marked"
    );
    ensure!(
        alice.texts(".search-group h2").await? == ["archive"],
        "grouped under its room"
    );

    // The result opens the room there, highlighted, away from the newest messages.
    alice.click(".search-hit").await?;
    alice.wait_path("/rooms/archive").await?;
    alice
        .wait_text(".message.found .body", "the Walrus plan is approved")
        .await?;
    alice.wait_for("#jump-latest").await?;
    let shown = alice.bodies().await?;
    ensure!(
        !shown.iter().any(|b| b == "note 150"),
        "the newest messages are not there yet: {shown:?}"
    );
    // Said meanwhile: it comes when the reader reaches the end.
    Server::post(&base, &token, room, "while you were searching").await?;

    // Scrolling down reads the newer pages until the end, where the room is live again
    // (a page at a time, each after a scroll event: given longer on a loaded machine).
    let deadline = Instant::now() + PATIENCE * 2;
    while !alice.bodies().await?.iter().any(|b| b == "note 150") {
        if Instant::now() > deadline {
            let state = alice
                .client
                .execute(
                    "const m = document.querySelector('.messages');
                     return [m.scrollTop, m.scrollHeight, m.clientHeight,
                             document.querySelector('.history-edge')?.textContent,
                             document.querySelector('.banner')?.textContent ?? null]",
                    vec![],
                )
                .await?;
            anyhow::bail!(
                "never reached the newest: {state}; shown {:?}",
                alice.bodies().await?
            );
        }
        alice
            .client
            .execute(
                "const m = document.querySelector('.messages'); m.scrollTop = m.scrollHeight",
                vec![],
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice.wait_message("while you were searching").await?;
    alice.wait_gone("#jump-latest").await?;
    let all = alice.bodies().await?;
    let mut sorted = all.clone();
    sorted.dedup();
    ensure!(sorted.len() == all.len(), "no message twice: {all:?}");

    // Again from the results; this time the button goes back to the newest.
    alice.client.back().await?;
    alice.wait_path("/search").await?;
    alice.click(".search-hit").await?;
    alice.wait_for(".message.found").await?;
    alice.click("#jump-latest").await?;
    alice.wait_message("while you were searching").await?;
    alice.wait_gone(".message.found").await?;
    alice.close().await
}

#[actix_web::test]
async fn an_image_sent_by_one_is_a_thumbnail_for_the_other_that_opens_full_size() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    server.sign_up("bob", PASSWORD).await?;
    let room = server.create_room(&token, "photos").await?;
    server.add_member(&token, room, "bob").await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sunset.png");
    image::RgbImage::from_fn(960, 640, |x, y| {
        image::Rgb([(x / 4) as u8, (y / 3) as u8, 90])
    })
    .save(&path)?;

    let driver = Driver::start().await?;
    let (alice, bob) = (browser(&driver).await?, browser(&driver).await?);
    alice
        .enter(&server.url("/rooms/photos"), "alice", PASSWORD, false)
        .await?;
    bob.enter(&server.url("/rooms/photos"), "bob", PASSWORD, false)
        .await?;
    alice.wait_text("#room-title", "photos").await?;

    // Alice picks the file: it uploads, with its progress, and waits in the composer.
    let input = alice.wait_for("#attach-input").await?;
    input.send_keys(&path.display().to_string()).await?;
    alice
        .wait_text(".pending-file[data-state='ready'] .name", "sunset.png")
        .await?;
    let sent_share = alice
        .client
        .execute(
            "return document.querySelector('.pending-file progress').value",
            vec![],
        )
        .await?;
    ensure!(
        sent_share.as_f64() == Some(1.0),
        "the progress bar is full: {sent_share}"
    );
    alice.say("the view tonight").await?;
    alice.wait_gone("#pending-files").await?;

    // Bob sees the thumbnail, loaded (through the files cookie), at its size.
    bob.wait_message("the view tonight").await?;
    let loaded = "const img = document.querySelector('.message .thumb img'); \
                  return img && img.complete ? [img.naturalWidth, img.naturalHeight] : null";
    let deadline = Instant::now() + natter_e2e::PATIENCE;
    let size = loop {
        let got = bob.client.execute(loaded, vec![]).await?;
        if got.as_array().is_some_and(|a| a[0].as_u64() > Some(0)) {
            break got;
        }
        ensure!(
            Instant::now() < deadline,
            "the thumbnail did not load: {got}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ensure!(
        size == serde_json::json!([480, 320]),
        "a 480-pixel thumbnail: {size}"
    );

    // It opens full size, and Escape closes it.
    bob.click(".message .thumb").await?;
    bob.wait_for("#viewer img").await?;
    let full = "const img = document.querySelector('#viewer img'); \
                return img.complete ? img.naturalWidth : 0";
    let deadline = Instant::now() + natter_e2e::PATIENCE;
    loop {
        let width = bob.client.execute(full, vec![]).await?;
        if width.as_u64() == Some(960) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the full picture did not load: {width}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    press(&bob, &Key::Escape).await?;
    bob.wait_gone("#viewer").await?;

    // Carol has a picture: it heads her message for bob, over a colour of her own (the
    // page's security policy allows no `style` attribute, so the avatar's are set through
    // its style object).
    let carol = server.sign_up("carol", PASSWORD).await?;
    server.add_member(&token, room, "carol").await?;
    reqwest::Client::new()
        .put(server.url("/api/me/avatar"))
        .bearer_auth(&carol)
        .header("content-type", "image/png")
        .body(std::fs::read(&path)?)
        .send()
        .await?
        .error_for_status()?;
    Server::post(&server.url(""), &carol, room, "that's me").await?;
    bob.wait_message("that's me").await?;
    let pictured = "return [
        performance.getEntriesByType('resource')
            .filter(r => r.name.endsWith('/api/users/carol/avatar')).map(r => r.responseStatus),
        [...new Set([...document.querySelectorAll('#message-list .avatar')]
            .map(a => getComputedStyle(a).backgroundColor))].length]";
    let deadline = Instant::now() + natter_e2e::PATIENCE;
    loop {
        let seen = bob.client.execute(pictured, vec![]).await?;
        if seen[0].as_array().is_some_and(|s| s.contains(&200.into())) {
            ensure!(seen[1] == 2, "alice and carol have one colour each: {seen}");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "carol's picture was not fetched: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Sends `keys` to the element that has the focus.
async fn press(page: &Browser, keys: &str) -> Result<()> {
    page.client.active_element().await?.send_keys(keys).await?;
    Ok(())
}

/// Ctrl+K, as one chord.
fn ctrl_k() -> String {
    format!("{}k{}", char::from(Key::Control), char::from(Key::Null))
}

/// Waits until the element that has the keyboard focus matches `css`.
async fn wait_focus(page: &Browser, css: &str) -> Result<()> {
    let deadline = Instant::now() + natter_e2e::PATIENCE;
    loop {
        let focused = page
            .client
            .execute(
                "return !!document.activeElement && document.activeElement.matches(arguments[0])",
                vec![serde_json::json!(css)],
            )
            .await?;
        if focused == serde_json::json!(true) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let element = page
                .client
                .execute(
                    "return document.activeElement && document.activeElement.outerHTML.slice(0, 160)",
                    vec![],
                )
                .await?;
            anyhow::bail!("the focus is on {element}, not {css}");
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[actix_web::test]
async fn the_keyboard_reaches_the_composer_skips_the_sidebar_and_edits_the_last_message()
-> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    server.create_room(&token, "keys").await?;
    server.create_room(&token, "other").await?;
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/keys"), "alice", PASSWORD, false)
        .await?;

    // The page's loading screen made way for the app.
    ensure!(
        alice
            .client
            .find_all(fantoccini::Locator::Css("#loading"))
            .await?
            .is_empty(),
        "the loading screen is gone"
    );
    let page = reqwest::get(server.url("/")).await?.text().await?;
    ensure!(
        page.contains("id=\"loading\""),
        "the page has a loading screen before the app"
    );
    // Opening a room puts the cursor in its composer; so does opening another.
    wait_focus(&alice, "#composer-input").await?;
    alice.click(".room-link[data-room='other']").await?;
    alice.wait_path("/rooms/other").await?;
    wait_focus(&alice, "#composer-input").await?;

    // Up in the empty composer edits the last own message, its box focused.
    alice.say("teh plan").await?;
    alice.wait_message("teh plan").await?;
    alice.wait_for(".message.own time").await?;
    press(&alice, &Key::Up).await?;
    wait_focus(&alice, "#edit-input").await?;
    let edit = alice.wait_for("#edit-input").await?;
    edit.clear().await?;
    edit.send_keys("the plan").await?;
    edit.send_keys(&Key::Enter).await?;
    alice.wait_message("the plan").await?;
    alice.wait_text(".message.own .state", "(edited)").await?;

    // The skip link is the page's first stop for Tab, shows when it has the focus, and goes
    // past the sidebar.
    let first = alice
        .client
        .execute(
            "return document.querySelector('a[href], button, input, textarea, select, \
             [tabindex]:not([tabindex=\"-1\"])').id",
            vec![],
        )
        .await?;
    ensure!(
        first == "skip-link",
        "the first thing Tab reaches is {first}"
    );
    let link = alice.wait_for("#skip-link").await?;
    alice
        .client
        .execute("document.getElementById('skip-link').focus()", vec![])
        .await?;
    let top = alice
        .client
        .execute(
            "return document.getElementById('skip-link').getBoundingClientRect().top",
            vec![],
        )
        .await?;
    ensure!(
        top.as_f64().is_some_and(|t| t >= 0.0),
        "the focused skip link is on screen: {top}"
    );
    link.send_keys(&Key::Enter).await?;
    wait_focus(&alice, "#main").await?;

    // A message's actions wait behind one button: no Edit or Delete until it is opened.
    ensure!(
        alice
            .client
            .find_all(fantoccini::Locator::Css("#message-list button.edit"))
            .await?
            .is_empty(),
        "no permanent Edit buttons"
    );
    // A message's time gives its full date when it takes the focus (or the pointer).
    let full = alice
        .client
        .execute(
            "const t = document.querySelector('.message.own .meta time');
             t.focus();
             return [t.getAttribute('title'), String(new Date(t.getAttribute('datetime')).getFullYear())]",
            vec![],
        )
        .await?;
    ensure!(
        full[0]
            .as_str()
            .zip(full[1].as_str())
            .is_some_and(|(title, year)| title.contains(year)),
        "the focused time's title: {full}"
    );
    alice
        .client
        .execute(
            "document.querySelector('.message.own .menu-button').focus()",
            vec![],
        )
        .await?;
    press(&alice, &Key::Enter).await?;
    // The menu takes the focus; Down moves through it; Escape closes it and gives the focus
    // back to its button.
    wait_focus(&alice, ".message-menu .reply").await?;
    let expanded =
        "return document.querySelector('.message.own .menu-button').getAttribute('aria-expanded')";
    ensure!(alice.client.execute(expanded, vec![]).await? == "true");
    press(&alice, &Key::Down).await?;
    wait_focus(&alice, ".message-menu .react").await?;
    press(&alice, &Key::Up).await?;
    press(&alice, &Key::Up).await?;
    wait_focus(&alice, ".message-menu .delete").await?;
    press(&alice, &Key::Escape).await?;
    alice.wait_gone(".message-menu").await?;
    wait_focus(&alice, ".message.own .menu-button").await?;
    ensure!(alice.client.execute(expanded, vec![]).await? == "false");
    // Enter on an item does what it says: Edit opens the edit box, focused.
    press(&alice, &Key::Enter).await?;
    wait_focus(&alice, ".message-menu .reply").await?;
    press(&alice, &Key::Down).await?;
    press(&alice, &Key::Down).await?;
    wait_focus(&alice, ".message-menu .edit").await?;
    press(&alice, &Key::Enter).await?;
    wait_focus(&alice, "#edit-input").await?;
    press(&alice, &Key::Escape).await?;
    wait_focus(&alice, "#composer-input").await?;

    // Ctrl+K opens the room switcher: typing narrows, Enter opens the room chosen, and the
    // cursor is in its composer.
    press(&alice, &ctrl_k()).await?;
    wait_focus(&alice, "#switcher-input").await?;
    press(&alice, "ke").await?;
    alice
        .wait_text("#switcher-list li[aria-selected='true']", "keys")
        .await?;
    press(&alice, &Key::Enter).await?;
    alice.wait_path("/rooms/keys").await?;
    alice.wait_gone("#switcher").await?;
    wait_focus(&alice, "#composer-input").await?;
    // Escape closes it with nothing chosen, the focus back where it was.
    press(&alice, &ctrl_k()).await?;
    wait_focus(&alice, "#switcher-input").await?;
    press(&alice, &Key::Escape).await?;
    alice.wait_gone("#switcher").await?;
    wait_focus(&alice, "#composer-input").await?;
    Ok(())
}

/// How many message rows the list draws.
async fn rows(page: &Browser) -> Result<u64> {
    page.client
        .execute(
            "return document.querySelectorAll('#message-list li.message').length",
            vec![],
        )
        .await?
        .as_u64()
        .context("a count")
}

/// Waits until the list draws `n` rows.
async fn wait_rows(page: &Browser, n: u64) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let drawn = rows(page).await?;
        if drawn == n {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "{drawn} rows drawn, not {n}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[actix_web::test]
async fn a_long_room_draws_a_window_of_its_messages() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    let room = server.create_room(&token, "long").await?;
    server.create_room(&token, "short").await?;
    let base = server.url("");
    for n in 1..=260 {
        Server::post(&base, &token, room, &format!("line {n}")).await?;
    }
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/long"), "alice", PASSWORD, false)
        .await?;
    alice.wait_message("line 260").await?;
    let to_top = "document.querySelector('.messages').scrollTop = 0";
    let to_bottom = "const m = document.querySelector('.messages'); m.scrollTop = m.scrollHeight";
    // Read all of it in, scrolling up: the list draws at most 200 rows on the way, dropping
    // the newest as older ones come in above.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let drawn = rows(&alice).await?;
        ensure!(drawn <= 200, "{drawn} rows drawn");
        let edge = alice
            .client
            .execute(
                "return document.querySelector('.history-edge').textContent",
                vec![],
            )
            .await?;
        if edge
            .as_str()
            .is_some_and(|t| t.contains("start of the room"))
        {
            break;
        }
        ensure!(Instant::now() < deadline, "only {drawn} rows, {edge}");
        alice.client.execute(to_top, vec![]).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_rows(&alice, 200).await?;
    let bodies = alice.bodies().await?;
    ensure!(
        bodies.first().map(String::as_str) == Some("line 1")
            && bodies.last().map(String::as_str) == Some("line 200"),
        "the oldest 200: {:?} … {:?}",
        bodies.first(),
        bodies.last()
    );

    // Scrolling down slides the rows back in, down to the newest 100 at the end.
    alice.wait_for("#jump-latest").await?;
    alice.client.execute(to_bottom, vec![]).await?;
    alice.wait_message("line 250").await?;
    ensure!(rows(&alice).await? <= 200, "still at most 200 rows");
    let deadline = Instant::now() + PATIENCE;
    while rows(&alice).await? != 100 {
        ensure!(Instant::now() < deadline, "{} rows", rows(&alice).await?);
        alice.client.execute(to_bottom, vec![]).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bodies = alice.bodies().await?;
    ensure!(
        bodies.first().map(String::as_str) == Some("line 161")
            && bodies.last().map(String::as_str) == Some("line 260"),
        "the newest 100: {:?} … {:?}",
        bodies.first(),
        bodies.last()
    );
    alice.wait_gone("#jump-latest").await?;
    alice
        .wait_text("#load-older", "Show older messages")
        .await?;
    // Scrolling up draws more of what is loaded; back at the bottom, the list shrinks.
    alice.client.execute(to_top, vec![]).await?;
    wait_rows(&alice, 150).await?;
    alice.client.execute(to_bottom, vec![]).await?;
    wait_rows(&alice, 100).await?;
    // Far up, "Jump to the newest messages" goes straight back.
    let deadline = Instant::now() + PATIENCE;
    while alice
        .client
        .execute(
            &format!("{to_top}; return !document.querySelector('#jump-latest')"),
            vec![],
        )
        .await?
        == serde_json::json!(true)
    {
        ensure!(Instant::now() < deadline, "{} rows", rows(&alice).await?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    alice.click("#jump-latest").await?;
    wait_rows(&alice, 100).await?;
    alice.wait_message("line 260").await?;

    // A room left keeps only its newest 100 in memory: opened again, the older ones are
    // read from the server as the reader scrolls up.
    alice.click(".room-link[data-room='short']").await?;
    alice.wait_path("/rooms/short").await?;
    alice.click(".room-link[data-room='long']").await?;
    alice.wait_path("/rooms/long").await?;
    wait_rows(&alice, 100).await?;
    alice
        .wait_text("#load-older", "Load older messages")
        .await?;
    alice
        .client
        .execute("document.querySelector('.messages').scrollTop = 0", vec![])
        .await?;
    alice.wait_message("line 150").await?;
    alice.close().await
}

#[actix_web::test]
async fn on_a_phone_every_control_is_big_enough_for_a_finger() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    server.create_room(&token, "pocket").await?;
    let other = server.create_room(&token, "other").await?;
    let bob = server.sign_up("bob", PASSWORD).await?;
    Server::post(&server.url(""), &bob, other, "news elsewhere").await?;
    let driver = Driver::start().await?;
    let phone = driver.browser(390, 844).await?;
    phone
        .enter(&server.url("/rooms/pocket"), "alice", PASSWORD, false)
        .await?;
    phone.say("from the train").await?;
    phone.wait_message("from the train").await?;
    phone.act("from the train", "react").await?;
    phone.click(".message.own .menu-button").await?;
    phone.wait_for(".message-menu .edit").await?;
    let sizes = phone
        .client
        .execute(
            "return ['.back', '.message.own .menu-button', '.message-menu .edit', '.message-menu .delete',
                     '.picker .pick', '#online-count', '#send', '.composer .attach']
               .map(s => { const r = document.querySelector(s).getBoundingClientRect();
                           return [s, Math.round(r.width), Math.round(r.height)]; })",
            vec![],
        )
        .await?;
    for item in sizes.as_array().context("sizes")? {
        let (w, h) = (item[1].as_u64().unwrap_or(0), item[2].as_u64().unwrap_or(0));
        ensure!(w >= 44 && h >= 44, "{} is {w} x {h} px", item[0]);
    }
    // The room view says that another room has news.
    phone.wait_for(".back #other-news").await?;
    // Who is online is a count in the room's one-line head, and opens the whole list.
    phone.wait_text("#online-count", "1 online").await?;
    let head = phone
        .client
        .execute(
            "return [...document.querySelector('.room-head').children]
               .filter(c => c.offsetParent !== null)
               .map(c => { const r = c.getBoundingClientRect();
                           return [c.id || c.className, Math.round(r.top), Math.round(r.bottom)]; })",
            vec![],
        )
        .await?;
    let rows: Vec<(String, i64, i64)> = serde_json::from_value(head.clone())?;
    let top = rows.iter().map(|r| r.1).min().unwrap_or(0);
    ensure!(
        rows.iter().all(|r| r.1 < top + 44),
        "the room's head is one line: {head}"
    );
    // And the room's whole name shows in it (Leave waits in the members panel instead).
    let title = phone
        .client
        .execute(
            "const t = document.getElementById('room-title'); return t.scrollWidth <= t.clientWidth",
            vec![],
        )
        .await?;
    ensure!(title == true, "the title is cut off");
    phone.click("#show-members").await?;
    phone
        .wait_text("#leave-room-narrow", "Leave this room")
        .await?;
    phone.click("#online-count").await?;
    phone.wait_text("#online-list", "alice").await?;
    phone.close().await
}

#[actix_web::test]
async fn signing_out_leaves_no_timer_or_socket_callback_behind() -> Result<()> {
    let server = Server::start().await?;
    let token = server.sign_up("alice", PASSWORD).await?;
    let bob = server.sign_up("bob", PASSWORD).await?;
    let room = server.create_room(&token, "quiet").await?;
    server.add_member(&token, room, "bob").await?;
    let driver = Driver::start().await?;
    let alice = browser(&driver).await?;
    alice
        .enter(&server.url("/rooms/quiet"), "alice", PASSWORD, false)
        .await?;
    alice.say("before leaving").await?;
    alice.wait_message("before leaving").await?;
    // From here on, every error or warning the page reports is kept.
    alice
        .client
        .execute(
            "window.reported = [];
             const keep = (...a) => window.reported.push(a.map(String).join(' '));
             for (const level of ['error', 'warn']) {
               const original = console[level];
               console[level] = (...a) => { keep(level, ...a); original.apply(console, a); };
             }
             window.addEventListener('error', e => keep('uncaught', e.message));
             window.addEventListener('unhandledrejection', e => keep('rejected', String(e.reason)));",
            vec![],
        )
        .await?;
    alice.click("#sign-out").await?;
    alice.wait_for("#username").await?;
    // Bob writes as she goes: nothing of hers may take it.
    Server::post(&server.url(""), &bob, room, "after she left").await?;
    // The typing indicators' timer ticks every second and a refused socket retries after two:
    // three seconds in the page see both come and go.
    alice
        .client
        .execute_async("setTimeout(arguments[0], 3000)", vec![])
        .await?;
    let reported = alice
        .client
        .execute("return window.reported", vec![])
        .await?;
    ensure!(
        reported == serde_json::json!([]),
        "the console after signing out: {reported}"
    );
    ensure!(
        alice.texts("#message-list .message").await?.is_empty(),
        "the room is gone with the session"
    );
    alice.close().await
}

/// Fails with axe-core's findings if the page has a serious or critical violation.
async fn accessible(page: &Browser, what: &str) -> Result<()> {
    let problems = page.accessibility_problems().await?;
    ensure!(
        problems.is_empty(),
        "{what}: {} serious or critical accessibility problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    Ok(())
}

#[actix_web::test]
async fn the_main_pages_pass_axe_core_without_serious_problems() -> Result<()> {
    let server = Server::start().await?;
    server.make_admin("root", PASSWORD)?;
    let token = server.sign_up("alice", PASSWORD).await?;
    let room = server.create_room(&token, "checked").await?;
    for body in ["hello **there**", "a [link](https://example.com)", "`code`"] {
        Server::post(&server.url(""), &token, room, body).await?;
    }
    let driver = Driver::start().await?;
    let page = browser(&driver).await?;
    page.goto(&server.url("/")).await?;
    page.wait_for("#username").await?;
    accessible(&page, "the sign-in page").await?;

    page.enter(&server.url("/rooms/checked"), "root", PASSWORD, false)
        .await?;
    page.wait_for("#message-list li.message").await?;
    accessible(&page, "a room").await?;
    // With a message's menu open.
    page.click("#message-list .menu-button").await?;
    page.wait_for(".message-menu").await?;
    accessible(&page, "a message's menu").await?;
    page.click("#account-link").await?;
    page.wait_path("/account").await?;
    accessible(&page, "the account page").await?;
    page.click("#admin-link").await?;
    page.wait_path("/admin").await?;
    page.wait_text("#main", "alice").await?;
    accessible(&page, "the admin page").await?;
    page.close().await
}
