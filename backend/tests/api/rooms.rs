use crate::helpers::{TestApp, TestResult};
use natter_shared::{ErrorKind, Room, RoomKind};
use reqwest::StatusCode;
use serde_json::json;

/// Rooms as a list shows them, less the notification level that only lists carry.
fn listed(rooms: Vec<Room>) -> Vec<Room> {
    rooms
        .into_iter()
        .map(|room| Room {
            notify: None,
            ..room
        })
        .collect()
}

#[actix_web::test]
async fn rooms_are_created_listed_and_fetched() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let general = app.create_room(&alice, "general").await;
    assert_eq!(general.name, "general");
    assert_eq!(general.kind, RoomKind::Public);
    let cafe = app.create_room(&alice, "Café-au_lait").await;

    // The creator's rooms list them, in pages by id; bob, in none, may still see them.
    let list: Vec<Room> = app.get("/api/rooms", &alice.token).await.json()?;
    assert_eq!(listed(list), vec![general.clone(), cafe.clone()]);
    let list: Vec<Room> = app.get("/api/rooms", &bob.token).await.json()?;
    assert!(list.is_empty());

    let got = app
        .get(&format!("/api/rooms/{}", general.id), &bob.token)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    let seen: Room = got.json()?;
    assert_eq!((seen.id, seen.role), (general.id, None));
    Ok(())
}

#[actix_web::test]
async fn room_names_are_unique_without_regard_to_case() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    app.create_room(&alice, "General").await;
    for name in ["General", "general", "GENERAL"] {
        let res = app
            .post("/api/rooms", &alice.token, json!({ "name": name }))
            .await;
        assert_eq!(res.error(), ErrorKind::RoomExists, "{name}");
    }
    Ok(())
}

#[actix_web::test]
async fn room_names_follow_the_rule() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let long = "r".repeat(65);
    for name in [
        "",
        "with space",
        "dot.ted",
        "'; DROP TABLE rooms;--",
        long.as_str(),
    ] {
        let res = app
            .post("/api/rooms", &alice.token, json!({ "name": name }))
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidRoomName, "{name:?}");
    }
    Ok(())
}

#[actix_web::test]
async fn unknown_rooms_are_404() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    for path in ["/api/rooms/999", "/api/rooms/abc", "/api/rooms/-1"] {
        assert_eq!(
            app.get(path, &alice.token).await.error(),
            ErrorKind::NotFound,
            "{path}"
        );
    }
    Ok(())
}

#[actix_web::test]
async fn a_pair_has_one_direct_room() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("Bob").await;

    let first = app.open_dm(&alice, "bob").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let room: Room = first.json()?;
    assert_eq!(room.kind, RoomKind::Direct);
    assert_eq!(room.peer.as_deref(), Some("Bob"));

    // The same room again, from either side, in any case.
    let again = app.open_dm(&alice, "BOB").await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json::<Room>()?.id, room.id);
    let theirs: Room = app.open_dm(&bob, "alice").await.json()?;
    assert_eq!(theirs.id, room.id);
    assert_eq!(theirs.peer.as_deref(), Some("alice"));

    // Each sees it in their list, named for the other.
    let alice_rooms: Vec<Room> = app.get("/api/rooms", &alice.token).await.json()?;
    assert_eq!(listed(alice_rooms), vec![room.clone()]);
    let bob_rooms: Vec<Room> = app.get("/api/rooms", &bob.token).await.json()?;
    assert_eq!(listed(bob_rooms), vec![theirs]);
    Ok(())
}

#[actix_web::test]
async fn concurrent_opens_make_one_direct_room() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let answers = futures::future::join_all((0..8).map(|i| {
        let (me, peer) = if i % 2 == 0 {
            (&alice, "bob")
        } else {
            (&bob, "alice")
        };
        app.open_dm(me, peer)
    }))
    .await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|a| a.json::<Room>().map(|r| r.id))
        .collect::<Result<_, _>>()?;
    assert_eq!(ids.len(), 1);
    let created = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    Ok(())
}

#[actix_web::test]
async fn a_third_user_cannot_see_read_or_post_to_a_direct_room() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    let eve = app.user("eve").await;
    let room: Room = app.open_dm(&alice, "bob").await.json()?;
    app.send(&alice, room.id, "just between us").await;

    let eve_rooms: Vec<Room> = app.get("/api/rooms", &eve.token).await.json()?;
    assert!(eve_rooms.is_empty());
    let get = app
        .get(&format!("/api/rooms/{}", room.id), &eve.token)
        .await;
    assert_eq!(get.error(), ErrorKind::NotFound);
    let read = app
        .get(&format!("/api/rooms/{}/messages", room.id), &eve.token)
        .await;
    assert_eq!(read.error(), ErrorKind::NotFound);
    let post = app
        .post_message(&eve, room.id, json!({ "body": "let me in" }))
        .await;
    assert_eq!(post.error(), ErrorKind::NotFound);

    // Nothing of eve's got in.
    let history = app.history(&alice, room.id, "").await;
    assert_eq!(history.len(), 1);
    Ok(())
}

#[actix_web::test]
async fn direct_rooms_need_another_existing_user() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    assert_eq!(
        app.open_dm(&alice, "nobody").await.error(),
        ErrorKind::NotFound
    );
    assert_eq!(
        app.open_dm(&alice, "natterbot").await.error(),
        ErrorKind::NotFound
    );
    assert_eq!(
        app.open_dm(&alice, "ALICE").await.error(),
        ErrorKind::CannotMessageSelf
    );
    assert_eq!(
        app.open_dm(&alice, "no way!").await.error(),
        ErrorKind::InvalidUsername
    );
    Ok(())
}
