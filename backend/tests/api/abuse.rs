//! One hostile user with many free accounts: every attack of the outside test that once got
//! through, each refused now. The SMS ones are in `jobs`, the nginx log in `cluster`.

use crate::helpers::{PASSWORD, TestApp, TestResult, TestUser};

use futures::future::join_all;
use natter::config::RateLimit;
use natter_shared::ws::ServerFrame;
use natter_shared::{ErrorKind, Message, Room};
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite;

fn limit(per_second: f64, burst: u32) -> RateLimit {
    RateLimit { per_second, burst }
}

impl TestApp {
    /// A login as if from `client`, through a proxy at 127.0.0.1 that says so.
    async fn login_from(&self, client: &str, username: &str, password: &str) -> StatusCode {
        self.client
            .post(format!("{}/api/auth/login", self.addr))
            .header("x-forwarded-for", client)
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("the server answers")
            .status()
    }
}

#[actix_web::test]
async fn one_account_creates_a_bounded_number_of_rooms_and_joins_a_bounded_number() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.max_rooms_per_user = 3;
        s.max_rooms_per_socket = 2;
    })
    .await;
    let alice = app.user("alice").await;
    let mut rooms = Vec::new();
    for i in 0..3 {
        rooms.push(app.create_room(&alice, &format!("r{i}")).await);
    }
    let fourth = app
        .post("/api/rooms", &alice.token, json!({"name": "r3"}))
        .await;
    assert_eq!(fourth.error(), ErrorKind::LimitReached);

    // One socket joins at most two rooms at once; leaving one makes room for another.
    let mut ws = app.ws(&alice).await;
    ws.join(rooms[0].id, None).await;
    ws.join(rooms[1].id, None).await;
    ws.send(json!({"type": "join", "room_id": rooms[2].id}))
        .await;
    match ws.error().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorKind::LimitReached),
        other => panic!("{other:?}"),
    }
    ws.send(json!({"type": "leave", "room_id": rooms[0].id}))
        .await;
    ws.join(rooms[2].id, None).await;
    Ok(())
}

#[actix_web::test]
async fn rooms_and_conversations_are_created_at_a_bounded_rate_and_listed_in_pages() -> TestResult {
    let app = TestApp::spawn_with(|s| s.create_rate_limit = limit(0.01, 2)).await;
    let alice = app.user("alice").await;
    for name in ["bob", "carol", "dave"] {
        app.user(name).await;
    }
    app.create_room(&alice, "one").await;
    assert_eq!(app.open_dm(&alice, "bob").await.status, StatusCode::CREATED);
    assert_eq!(
        app.open_dm(&alice, "carol").await.error(),
        ErrorKind::RateLimited
    );
    // Opening a conversation that exists creates nothing and costs nothing.
    assert_eq!(app.open_dm(&alice, "bob").await.status, StatusCode::OK);
    let third = app
        .post("/api/rooms", &alice.token, json!({"name": "three"}))
        .await;
    assert_eq!(third.error(), ErrorKind::RateLimited);

    // The list of her rooms comes in pages by id.
    let admin = app.admin("root").await;
    for i in 0..5 {
        let id = app.create_room(&admin, &format!("p{i}")).await.id;
        let joined = app
            .post(&format!("/api/rooms/{id}/join"), &alice.token, json!({}))
            .await;
        assert_eq!(joined.status, StatusCode::OK);
    }
    let first: Vec<Room> = app.get("/api/rooms?limit=3", &alice.token).await.json()?;
    assert_eq!(first.len(), 3);
    let after = first[2].id;
    let rest: Vec<Room> = app
        .get(&format!("/api/rooms?limit=3&after={after}"), &alice.token)
        .await
        .json()?;
    assert!(rest.iter().all(|r| r.id > after));
    let all: Vec<_> = first.iter().chain(&rest).map(|r| r.id).collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "by id, no repeats");
    assert_eq!(
        app.get("/api/rooms?limit=0", &alice.token).await.error(),
        ErrorKind::InvalidLimit
    );
    Ok(())
}

#[actix_web::test]
async fn concurrent_wrong_logins_pass_the_throttle_no_more_than_its_burst() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.login_rate_limit = limit(0.01, 5);
        s.login_addr_rate_limit = RateLimit::OFF;
    })
    .await;
    app.user("alice").await;
    let tries = (0..60).map(|_| app.login_as("alice", "wrong password"));
    let answers = join_all(tries).await;
    let checked = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (checked, throttled),
        (5, 55),
        "every attempt takes its token before the password is checked"
    );
    Ok(())
}

#[actix_web::test]
async fn guessing_from_one_address_does_not_lock_the_owner_out_from_another() -> TestResult {
    let app =
        TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.user("alice").await;
    for _ in 0..5 {
        let status = app
            .login_from("203.0.113.6", "alice", "wrong password")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.login_from("203.0.113.6", "alice", "wrong password")
            .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The attacker keeps trying; alice, elsewhere, signs in.
    assert_eq!(
        app.login_from("203.0.113.6", "alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        app.login_from("198.51.100.7", "alice", PASSWORD).await,
        StatusCode::OK
    );
    // Good logins cost nothing: she can do it again and again.
    for _ in 0..10 {
        assert_eq!(
            app.login_from("198.51.100.7", "alice", PASSWORD).await,
            StatusCode::OK
        );
    }
    Ok(())
}

#[actix_web::test]
async fn forwarding_headers_from_strangers_are_not_believed() -> TestResult {
    // No trusted proxy: a client writing X-Forwarded-For is still its own address.
    let app = TestApp::spawn().await;
    app.user("alice").await;
    for i in 0..5 {
        let status = app
            .login_from(&format!("203.0.113.{i}"), "alice", "wrong password")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        app.login_from("203.0.113.99", "alice", "wrong password")
            .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    Ok(())
}

#[actix_web::test]
async fn junk_usernames_share_one_throttle() -> TestResult {
    let app = TestApp::spawn_with(|s| s.login_addr_rate_limit = RateLimit::OFF).await;
    // Names that cannot exist, each different and long: one key between them, so they cost
    // the throttle no memory however many there are.
    for i in 0..5 {
        let name = format!("{i}{}", "x".repeat(60_000));
        assert_eq!(
            app.login_as(&name, "wrong password").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let name = format!("z{}", "y".repeat(60_000));
    assert_eq!(
        app.login_as(&name, "wrong password").await.error(),
        ErrorKind::RateLimited
    );
    Ok(())
}

#[actix_web::test]
async fn sockets_are_capped_per_user_and_per_address() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.max_sockets_per_user = 2;
        s.max_sockets_per_addr = 4;
    })
    .await;
    let alice = app.user("alice").await;
    let _one = app.ws(&alice).await;
    let two = app.ws(&alice).await;
    let auth = format!("Bearer {}", alice.token);
    let third = app.ws_connect("", &[("authorization", &auth)]).await;
    assert!(
        matches!(&third, Err(tungstenite::Error::Http(res)) if res.status() == 429),
        "a third socket for one user is refused"
    );
    // Through the auth frame, the same: an error frame, then close 1013.
    let mut late = app.ws_connect("", &[]).await?;
    late.send(json!({"type": "auth", "token": alice.token}))
        .await;
    match late.next().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorKind::RateLimited),
        other => panic!("{other:?}"),
    }
    assert_eq!(late.ended().await.code(), Some(1013));
    // A closed socket gives its place back.
    two.close().await;
    let deadline = std::time::Instant::now() + crate::ws_client::WAIT;
    let _again = loop {
        if let Ok(ws) = app.ws_connect("", &[("authorization", &auth)]).await {
            break ws;
        }
        assert!(std::time::Instant::now() < deadline, "the place comes back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    // Sockets not signed in count against the address too: alice's two and two more.
    let _anon = app.ws_connect("", &[]).await?;
    let _anon2 = app.ws_connect("", &[]).await?;
    let refused = app.ws_connect("", &[]).await;
    assert!(
        matches!(&refused, Err(tungstenite::Error::Http(res)) if res.status() == 429),
        "the address has its fill"
    );
    Ok(())
}

#[actix_web::test]
async fn the_open_files_limit_is_raised_to_its_hard_limit() -> TestResult {
    let _app = TestApp::spawn().await;
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no open files limit")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], fields[4], "soft equals hard: {line}");
    Ok(())
}

#[actix_web::test]
async fn password_hashing_is_bounded_and_sign_ups_are_throttled_per_address() -> TestResult {
    let app = TestApp::spawn_with(|s| s.signup_rate_limit = limit(0.01, 3)).await;
    for i in 0..3 {
        assert_eq!(
            app.signup_as(&format!("user{i}"), PASSWORD).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        app.signup_as("user3", PASSWORD).await.error(),
        ErrorKind::RateLimited
    );

    // Many sign-ups at once at a real cost: the pool takes as many as it can, a few wait,
    // the rest are told to come back (503 busy with Retry-After) at once. None fails.
    let app = TestApp::spawn_with(|s| s.bcrypt_cost = 11).await;
    let (client, addr) = (&app.client, &app.addr);
    let tries = (0..60).map(|i| async move {
        client
            .post(format!("{addr}/api/auth/signup"))
            .json(&json!({ "username": format!("many{i}"), "password": PASSWORD }))
            .send()
            .await
            .expect("an answer")
    });
    let answers = join_all(tries).await;
    let mut busy = 0;
    for res in &answers {
        match res.status().as_u16() {
            201 => {}
            503 => {
                assert!(res.headers().contains_key("retry-after"));
                busy += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "with 60 at once, some are told to come back");
    Ok(())
}

#[actix_web::test]
async fn look_alike_and_invisible_names_are_refused_or_taken() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    app.create_room(&alice, "general").await;
    for (name, kind) in [
        ("аlice", ErrorKind::InvalidUsername), // Cyrillic а with Latin
        ("ａｌｉｃｅ", ErrorKind::UsernameTaken), // fullwidth: NFKC is alice
        ("𝐚𝐥𝐢𝐜𝐞", ErrorKind::UsernameTaken),   // mathematical bold
        ("a1ice", ErrorKind::UsernameTaken),   // confusable skeleton
        ("nаtterbot", ErrorKind::InvalidUsername), // mixed scripts
        ("\u{115F}\u{115F}\u{115F}", ErrorKind::InvalidUsername), // renders blank
        ("bob\u{200B}", ErrorKind::InvalidUsername), // zero-width space
    ] {
        let res = app.signup_as(name, PASSWORD).await;
        assert_eq!(res.error(), kind, "{name:?}");
    }
    for (name, kind) in [
        ("gеneral", ErrorKind::InvalidRoomName),
        ("ｇｅｎｅｒａｌ", ErrorKind::RoomExists),
        ("GENERAL", ErrorKind::RoomExists),
    ] {
        let res = app
            .post("/api/rooms", &alice.token, json!({ "name": name }))
            .await;
        assert_eq!(res.error(), kind, "{name:?}");
    }
    // A name of one other script is fine, and signs in by its look-alike-free key.
    assert_eq!(
        app.signup_as("иван", PASSWORD).await.status,
        StatusCode::CREATED
    );
    assert_eq!(app.login_as("ИВАН", PASSWORD).await.status, StatusCode::OK);
    Ok(())
}

#[actix_web::test]
async fn edits_and_deletions_share_the_message_rate_limit() -> TestResult {
    let app = TestApp::spawn_with(|s| s.rate_limit = limit(0.01, 4)).await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let message = app.send(&alice, room.id, "typo").await;
    let path = format!("/api/rooms/{}/messages/{}", room.id, message.id);
    let mut statuses = Vec::new();
    for i in 0..4 {
        let res = app
            .request(
                reqwest::Method::PATCH,
                &path,
                Some(&alice.token),
                Some(&json!({ "body": format!("fixed {i}") })),
            )
            .await;
        statuses.push(res.status.as_u16());
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "one message, three edits, then wait"
    );
    let res = app
        .request(reqwest::Method::DELETE, &path, Some(&alice.token), None)
        .await;
    assert_eq!(res.error(), ErrorKind::RateLimited);
    Ok(())
}

#[actix_web::test]
async fn a_stolen_token_cannot_guess_the_password() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let change =
        |current: &str| json!({ "current_password": current, "new_password": "a new password" });
    for _ in 0..5 {
        let res = app
            .post("/api/me/password", &alice.token, change("wrong guess"))
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidCredentials);
    }
    let res = app
        .post("/api/me/password", &alice.token, change("another guess"))
        .await;
    assert_eq!(res.error(), ErrorKind::RateLimited);
    Ok(())
}

#[actix_web::test]
async fn commands_that_store_a_message_honour_the_client_id() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    for body in ["/me waves", "/now"] {
        for _ in 0..3 {
            let res = app
                .post_message(
                    &alice,
                    room.id,
                    json!({ "body": body, "client_id": format!("c-{body}") }),
                )
                .await;
            assert_eq!(res.status, StatusCode::CREATED, "{body}");
        }
    }
    let history = app.history(&alice, room.id, "").await;
    assert_eq!(history.len(), 2, "one /me and one /now: {history:?}");
    Ok(())
}

#[actix_web::test]
async fn a_client_id_used_in_another_room_is_refused_not_dropped() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let other = app.create_room(&alice, "other").await;
    let first = app
        .post_message(
            &alice,
            room.id,
            json!({ "body": "one", "client_id": "same" }),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app
        .post_message(
            &alice,
            room.id,
            json!({ "body": "one", "client_id": "same" }),
        )
        .await;
    assert_eq!(again.json::<Message>()?.id, first.json::<Message>()?.id);
    let elsewhere = app
        .post_message(
            &alice,
            other.id,
            json!({ "body": "two", "client_id": "same" }),
        )
        .await;
    assert_eq!(elsewhere.error(), ErrorKind::ClientIdReused);
    Ok(())
}

#[actix_web::test]
async fn the_token_check_after_sign_in_closes_the_revocation_race() -> TestResult {
    // A socket signing in while the password changes either sees the change (and closes)
    // or is in the hub when the change closes everyone's sockets. Never a socket that
    // outlives the change and posts.
    let app = TestApp::spawn_with(|s| s.login_rate_limit = RateLimit::OFF).await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    let mut token = alice.token.clone();
    let mut password = PASSWORD.to_owned();
    for round in 0..40 {
        let new_password = format!("password number {round}");
        let connect = async {
            let mut ws = app.ws_connect("", &[]).await.expect("the socket opens");
            ws.send(json!({"type": "auth", "token": token})).await;
            ws
        };
        let change = app.post(
            "/api/me/password",
            &token,
            json!({ "current_password": password, "new_password": new_password }),
        );
        let (mut ws, changed) = tokio::join!(connect, change);
        assert_eq!(changed.status, StatusCode::OK);
        // Once the change has answered, the old socket must be closed, or close now.
        ws.send(json!({"type": "send", "room_id": room.id, "body": "after", "client_id": format!("r{round}")}))
            .await;
        loop {
            match ws.next_or_end().await {
                Ok(ServerFrame::Ack { .. }) => panic!("round {round}: a revoked socket posted"),
                Ok(_) => continue,
                Err(_ended) => break,
            }
        }
        token = changed.json::<natter_shared::AuthResponse>()?.token;
        password = new_password;
    }
    assert!(
        app.history(&TestUser::from_token(&token, &alice), room.id, "")
            .await
            .is_empty()
    );
    Ok(())
}

#[actix_web::test]
async fn messages_of_nothing_visible_are_refused() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    for body in [
        "\u{200B}\u{200B}",
        "\u{3164}",
        "\u{202E}\u{2066} ",
        "\u{FEFF}\n",
    ] {
        let res = app
            .post_message(&alice, room.id, json!({ "body": body }))
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidMessageBody, "{body:?}");
    }
    // Bidi controls inside real text are kept as sent (the web app isolates them).
    let kept = app.send(&alice, room.id, "abc \u{202E}def").await;
    assert_eq!(kept.body, "abc \u{202E}def");
    Ok(())
}

#[cfg(unix)]
#[actix_web::test]
async fn the_database_files_are_the_owner_s_alone() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    if std::env::var_os("NATTER_TEST_POSTGRES").is_some() {
        return Ok(());
    }
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    app.send(&alice, room.id, "written to the WAL").await;
    let db = app.db_path();
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        let mode = std::fs::metadata(&path)?.permissions().mode();
        assert_eq!(mode & 0o077, 0, "{path} is {mode:o}");
    }

    // A file made readable by others before is narrowed at the next start.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("natter.db");
    std::fs::write(&path, b"")?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    natter::db::Database::open(&natter::config::DatabaseUrl::Sqlite(path.clone()))?;
    assert_eq!(
        std::fs::metadata(&path)?.permissions().mode() & 0o777,
        0o600
    );
    Ok(())
}

#[actix_web::test]
async fn expired_tokens_get_no_grace_and_answers_are_not_cached() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let res = app
        .client
        .get(format!("{}/api/me", app.addr))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(
        res.headers().get("cache-control").map(|v| v.to_str().ok()),
        Some(Some("no-store"))
    );

    let secret = app.jwt_secret();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": alice.auth.user.id.0.to_string(), "iat": now - 100, "exp": now - 5,
        "iss": "natter", "ver": 0,
    });
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )?;
    assert_eq!(
        app.get("/api/me", &expired).await.error(),
        ErrorKind::InvalidToken,
        "five seconds past its expiry, a token is expired"
    );
    Ok(())
}

#[actix_web::test]
async fn history_reads_are_rate_limited_and_admins_cannot_delete_what_they_cannot_see() -> TestResult
{
    let app = TestApp::spawn_with(|s| s.read_rate_limit = limit(0.01, 3)).await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let path = format!("/api/rooms/{}/messages", room.id);
    for _ in 0..3 {
        assert_eq!(app.get(&path, &alice.token).await.status, StatusCode::OK);
    }
    assert_eq!(
        app.get(&path, &alice.token).await.error(),
        ErrorKind::RateLimited
    );

    let dm: Room = app.open_dm(&alice, "bob").await.json()?;
    let admin = app.admin("root").await;
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{}", dm.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(res.error(), ErrorKind::NotFound);
    Ok(())
}
