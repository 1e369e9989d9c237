//! Membership: private rooms, the directory, joining and leaving, adding and removing
//! members, owners, topics and group conversations.

use crate::helpers::{TestApp, TestResult, TestUser};
use natter_shared::ws::{MemberEvent, ServerFrame};
use natter_shared::{ErrorKind, MembersPage, Role, Room, RoomKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn private_room(app: &TestApp, owner: &TestUser, name: &str) -> Room {
    app.create_private_room(owner, name).await
}

async fn add(app: &TestApp, by: &TestUser, room: &Room, username: &str) -> crate::helpers::Answer {
    app.add_member(by, room.id, username).await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &TestUser,
    body: Option<Value>,
) -> crate::helpers::Answer {
    app.request(method, path, Some(&user.token), body.as_ref())
        .await
}

/// `POST /api/rooms/{room}/ACTION` (`join` or `leave`) as `user`.
async fn act(
    app: &TestApp,
    user: &TestUser,
    room: natter_shared::RoomId,
    action: &str,
) -> crate::helpers::Answer {
    let path = format!("/api/rooms/{room}/{action}");
    send(app, Method::POST, &path, user, None).await
}

/// `DELETE /api/rooms/{room}/members/{user}` as `by`.
async fn remove(
    app: &TestApp,
    by: &TestUser,
    room: natter_shared::RoomId,
    user: &TestUser,
) -> crate::helpers::Answer {
    let path = format!("/api/rooms/{room}/members/{}", user.auth.user.id);
    send(app, Method::DELETE, &path, by, None).await
}

async fn room_ids(app: &TestApp, user: &TestUser, path: &str) -> Vec<i64> {
    let rooms: Vec<Room> = app
        .get(path, &user.token)
        .await
        .json()
        .unwrap_or_else(|e| panic!("rooms: {e}"));
    rooms.into_iter().map(|r| r.id.0).collect()
}

#[actix_web::test]
async fn a_private_room_does_not_exist_for_outsiders() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let secret = private_room(&app, &alice, "secret").await;
    assert_eq!(secret.kind, RoomKind::Private);
    assert_eq!(secret.role, Some(Role::Owner));
    assert_eq!(
        add(&app, &alice, &secret, "bob").await.status,
        StatusCode::CREATED
    );
    app.send(&bob, secret.id, "for members only").await;

    let id = secret.id;
    for (method, path, body) in [
        (Method::GET, format!("/api/rooms/{id}"), None),
        (Method::GET, format!("/api/rooms/{id}/messages"), None),
        (
            Method::POST,
            format!("/api/rooms/{id}/messages"),
            Some(json!({ "body": "hi" })),
        ),
        (Method::GET, format!("/api/rooms/{id}/members"), None),
        (
            Method::POST,
            format!("/api/rooms/{id}/members"),
            Some(json!({ "username": "carol" })),
        ),
        (Method::POST, format!("/api/rooms/{id}/join"), None),
        (Method::POST, format!("/api/rooms/{id}/leave"), None),
        (
            Method::PATCH,
            format!("/api/rooms/{id}"),
            Some(json!({ "topic": "mine now" })),
        ),
        (
            Method::DELETE,
            format!("/api/rooms/{id}/members/{}", alice.auth.user.id),
            None,
        ),
        (
            Method::POST,
            format!("/api/rooms/{id}/read"),
            Some(json!({ "message_id": 1 })),
        ),
        (
            Method::PATCH,
            format!("/api/rooms/{id}/settings"),
            Some(json!({ "notify": "none" })),
        ),
    ] {
        let res = send(&app, method.clone(), &path, &carol, body).await;
        assert_eq!(
            res.error(),
            ErrorKind::NotFound,
            "{method} {path}: {}",
            res.body
        );
    }
    assert!(!room_ids(&app, &carol, "/api/rooms").await.contains(&id.0));
    assert!(
        !room_ids(&app, &carol, "/api/rooms/directory")
            .await
            .contains(&id.0)
    );
    assert!(
        !room_ids(&app, &bob, "/api/rooms/directory")
            .await
            .contains(&id.0)
    );
    assert!(room_ids(&app, &bob, "/api/rooms").await.contains(&id.0));

    // Over a socket: no join, no post, no typing.
    let mut ws = app.ws(&carol).await.with_membership();
    ws.send(json!({ "type": "join", "room_id": id })).await;
    assert!(matches!(
        ws.error().await,
        ServerFrame::Error {
            code: ErrorKind::NotFound,
            ..
        }
    ));
    ws.say(id, "let me in", "c1").await;
    assert!(matches!(
        ws.error().await,
        ServerFrame::Error {
            code: ErrorKind::NotFound,
            ..
        }
    ));
    ws.send(json!({ "type": "typing", "room_id": id })).await;
    assert!(matches!(
        ws.error().await,
        ServerFrame::Error {
            code: ErrorKind::NotFound,
            ..
        }
    ));
    // The socket is still open, and public rooms are open to it.
    let general = app.create_room(&alice, "general").await;
    ws.join(general.id, None).await;
    Ok(())
}

#[actix_web::test]
async fn a_removed_member_is_cut_off_at_once() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let secret = private_room(&app, &alice, "secret").await;
    let mut bob_ws = app.ws(&bob).await.with_membership();
    add(&app, &alice, &secret, "bob").await;
    // The new member hears of the room on their open socket.
    let frame = bob_ws
        .until("room", |f| matches!(f, ServerFrame::Room { .. }))
        .await;
    let ServerFrame::Room { room } = frame else {
        unreachable!()
    };
    assert_eq!((room.id, room.role), (secret.id, Some(Role::Member)));
    bob_ws.join(secret.id, None).await;
    bob_ws.say_acked(secret.id, "hello", "b1").await;

    let mut alice_ws = app.ws(&alice).await.with_membership();
    alice_ws.join(secret.id, None).await;
    let res = remove(&app, &alice, secret.id, &bob).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    let frame = bob_ws
        .until("removed", |f| matches!(f, ServerFrame::Removed { .. }))
        .await;
    assert_eq!(frame, ServerFrame::Removed { room_id: secret.id });
    let frame = alice_ws
        .until("member", |f| matches!(f, ServerFrame::Member { .. }))
        .await;
    assert!(
        matches!(frame, ServerFrame::Member { event: MemberEvent::Removed, ref username, .. } if username == "bob")
    );

    // The socket that was in the room may no longer post, type or read it.
    bob_ws.say(secret.id, "still here?", "b2").await;
    assert!(matches!(
        bob_ws.error().await,
        ServerFrame::Error {
            code: ErrorKind::NotFound,
            ..
        }
    ));
    bob_ws
        .send(json!({ "type": "typing", "room_id": secret.id }))
        .await;
    assert!(matches!(
        bob_ws.error().await,
        ServerFrame::Error {
            code: ErrorKind::NotFound,
            ..
        }
    ));
    let res = app
        .get(&format!("/api/rooms/{}/messages", secret.id), &bob.token)
        .await;
    assert_eq!(res.error(), ErrorKind::NotFound);
    alice_ws.say_acked(secret.id, "bob is gone", "a1").await;
    assert_eq!(app.history(&alice, secret.id, "").await.len(), 2);
    Ok(())
}

#[actix_web::test]
async fn a_group_conversation_is_the_same_for_the_same_people() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    assert_eq!(bob.name(), "bob");

    let first = app.open_group(&alice, &["bob", "carol"]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let group: Room = first.json()?;
    assert_eq!(group.kind, RoomKind::Group);
    assert_eq!(group.members, vec!["bob", "carol"]);
    assert_eq!(group.member_count, 3);
    for (who, list) in [
        (&alice, json!(["carol", "bob"])),
        (&carol, json!(["BOB", "alice"])),
    ] {
        let again = app
            .post("/api/dms", &who.token, json!({ "usernames": list }))
            .await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(again.json::<Room>()?.id, group.id);
    }
    // Another set of people is another conversation; dave sees none of this one.
    let other: Room = app
        .post(
            "/api/dms",
            &alice.token,
            json!({ "usernames": ["bob", "carol", "dave"] }),
        )
        .await
        .json()?;
    assert_ne!(other.id, group.id);
    let res = app
        .get(&format!("/api/rooms/{}", group.id), &dave.token)
        .await;
    assert_eq!(res.error(), ErrorKind::NotFound);
    assert!(
        room_ids(&app, &carol, "/api/rooms")
            .await
            .contains(&group.id.0)
    );

    // One name is still a direct conversation.
    let direct: Room = app
        .post("/api/dms", &alice.token, json!({ "usernames": ["bob"] }))
        .await
        .json()?;
    assert_eq!(direct.kind, RoomKind::Direct);
    assert_eq!(direct.peer.as_deref(), Some("bob"));

    let names: Vec<String> = (0..9).map(|i| format!("user{i}")).collect();
    for (list, kind) in [
        (json!(["bob", "bob"]), ErrorKind::DuplicateMember),
        (json!(["bob", "Bob"]), ErrorKind::DuplicateMember),
        (json!(["bob", "alice"]), ErrorKind::CannotMessageSelf),
        (json!([]), ErrorKind::InvalidGroup),
        (json!(names), ErrorKind::InvalidGroup),
        (json!(["bob", "nobody"]), ErrorKind::NotFound),
    ] {
        let res = app
            .post("/api/dms", &alice.token, json!({ "usernames": list }))
            .await;
        assert_eq!(res.error(), kind, "{list}");
    }
    // People are fixed: nobody is added or removed; a group member may leave.
    assert_eq!(
        add(&app, &alice, &group, "dave").await.error(),
        ErrorKind::FixedMembers
    );
    let res = act(&app, &alice, direct.id, "leave").await;
    assert_eq!(res.error(), ErrorKind::CannotLeave);
    let res = act(&app, &carol, group.id, "leave").await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(
        !room_ids(&app, &carol, "/api/rooms")
            .await
            .contains(&group.id.0)
    );
    Ok(())
}

#[actix_web::test]
async fn a_deactivated_user_is_neither_added_nor_messaged() -> TestResult {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.user("carol").await;
    let res = app
        .post(
            &format!("/api/admin/users/{}/deactivate", bob.auth.user.id),
            &admin.token,
            json!({}),
        )
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    let room = private_room(&app, &alice, "secret").await;
    assert_eq!(
        add(&app, &alice, &room, "bob").await.error(),
        ErrorKind::UserDeactivated
    );
    assert_eq!(
        add(&app, &alice, &room, "nobody").await.error(),
        ErrorKind::NotFound
    );
    let res = app
        .post(
            "/api/dms",
            &alice.token,
            json!({ "usernames": ["bob", "carol"] }),
        )
        .await;
    assert_eq!(res.error(), ErrorKind::UserDeactivated);
    Ok(())
}

#[actix_web::test]
async fn the_directory_lists_public_rooms_in_pages_and_finds_them_by_name() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut made = Vec::new();
    for name in ["design", "devops", "random", "Deploys", "lunch"] {
        made.push(app.create_room(&alice, name).await);
    }
    private_room(&app, &alice, "dark-secret").await;

    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page: Vec<Room> = app
            .get(
                &format!("/api/rooms/directory?limit=2&after={after}"),
                &bob.token,
            )
            .await
            .json()?;
        seen.extend(page.iter().map(|r| r.name.clone()));
        match page.last() {
            Some(last) if page.len() == 2 => after = last.id.0,
            _ => break,
        }
    }
    assert_eq!(seen, vec!["design", "devops", "random", "Deploys", "lunch"]);

    let found: Vec<Room> = app
        .get("/api/rooms/directory?q=DE", &bob.token)
        .await
        .json()?;
    let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["design", "devops", "Deploys"]);
    assert!(
        found
            .iter()
            .all(|r| r.role.is_none() && r.member_count == 1)
    );
    let found: Vec<Room> = app
        .get("/api/rooms/directory?q=%25", &bob.token)
        .await
        .json()?;
    assert!(found.is_empty(), "a % is a character, not a wildcard");

    // Joining shows in the directory and in the member's rooms; bob's list held none before.
    assert!(room_ids(&app, &bob, "/api/rooms").await.is_empty());
    let res = act(&app, &bob, made[2].id, "join").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let joined: Room = res.json()?;
    assert_eq!((joined.role, joined.member_count), (Some(Role::Member), 2));
    assert_eq!(room_ids(&app, &bob, "/api/rooms").await, vec![made[2].id.0]);
    let found: Vec<Room> = app
        .get("/api/rooms/directory?q=random", &bob.token)
        .await
        .json()?;
    assert_eq!(found[0].role, Some(Role::Member));
    Ok(())
}

#[actix_web::test]
async fn posting_in_a_public_room_joins_it() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let general = app.create_room(&alice, "general").await;
    let mut alice_ws = app.ws(&alice).await.with_membership();
    alice_ws.join(general.id, None).await;
    // Bob may read and watch it before he joins.
    assert!(app.history(&bob, general.id, "").await.is_empty());
    let mut bob_ws = app.ws(&bob).await.with_membership();
    bob_ws.join(general.id, None).await;
    // Bob hears of his new room before his message is acknowledged.
    bob_ws.say(general.id, "hi all", "b1").await;
    let frame = bob_ws
        .until("room", |f| {
            matches!(f, ServerFrame::Room { .. } | ServerFrame::Ack { .. })
        })
        .await;
    assert!(
        matches!(frame, ServerFrame::Room { ref room } if room.id == general.id && room.role == Some(Role::Member))
    );
    bob_ws
        .until("ack", |f| matches!(f, ServerFrame::Ack { .. }))
        .await;
    let frame = alice_ws
        .until("member", |f| matches!(f, ServerFrame::Member { .. }))
        .await;
    assert!(
        matches!(frame, ServerFrame::Member { event: MemberEvent::Joined, ref username, .. } if username == "bob")
    );
    assert_eq!(room_ids(&app, &bob, "/api/rooms").await, vec![general.id.0]);
    let page: MembersPage = app
        .get(&format!("/api/rooms/{}/members", general.id), &bob.token)
        .await
        .json()?;
    let members: Vec<(&str, Role, bool)> = page
        .members
        .iter()
        .map(|m| (m.username.as_str(), m.role, m.online))
        .collect();
    assert_eq!(
        members,
        vec![("alice", Role::Owner, true), ("bob", Role::Member, true)]
    );
    Ok(())
}

#[actix_web::test]
async fn owners_change_the_room_and_hand_it_on_when_they_leave() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = private_room(&app, &alice, "project").await;
    add(&app, &alice, &room, "bob").await;
    add(&app, &bob, &room, "carol").await; // any member of a private room may add
    assert_eq!(
        add(&app, &bob, &room, "carol").await.error(),
        ErrorKind::AlreadyMember
    );

    let path = format!("/api/rooms/{}", room.id);
    let res = send(
        &app,
        Method::PATCH,
        &path,
        &bob,
        Some(json!({ "topic": "mine" })),
    )
    .await;
    assert_eq!(res.error(), ErrorKind::Forbidden);
    let long = "t".repeat(251);
    let res = send(
        &app,
        Method::PATCH,
        &path,
        &alice,
        Some(json!({ "topic": long })),
    )
    .await;
    assert_eq!(res.error(), ErrorKind::InvalidTopic);
    let mut carol_ws = app.ws(&carol).await.with_membership();
    let res = send(
        &app,
        Method::PATCH,
        &path,
        &alice,
        Some(json!({ "topic": "Ship it by Friday", "name": "launch" })),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let frame = carol_ws
        .until("room", |f| matches!(f, ServerFrame::Room { .. }))
        .await;
    let ServerFrame::Room { room: seen } = frame else {
        unreachable!()
    };
    assert_eq!(
        (seen.name.as_str(), seen.topic.as_deref()),
        ("launch", Some("Ship it by Friday"))
    );

    // The only owner cannot be removed; leaving hands the room to the longest-standing member.
    let res = remove(&app, &alice, room.id, &alice).await;
    assert_eq!(res.error(), ErrorKind::LastOwner);
    let res = remove(&app, &bob, room.id, &carol).await;
    assert_eq!(res.error(), ErrorKind::Forbidden);
    let res = act(&app, &alice, room.id, "leave").await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    let now: Room = app.get(&path, &bob.token).await.json()?;
    assert_eq!((now.role, now.member_count), (Some(Role::Owner), 2));
    let res = remove(&app, &bob, room.id, &carol).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    // Alice left: the room is gone for her.
    assert_eq!(
        app.get(&path, &alice.token).await.error(),
        ErrorKind::NotFound
    );
    Ok(())
}

#[actix_web::test]
async fn memberships_have_limits() -> TestResult {
    let app = TestApp::spawn_with(|s| s.max_memberships_per_user = 2).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for name in ["one", "two"] {
        app.create_room(&alice, name).await;
    }
    // Alice is in two rooms: a third is refused, as is adding her to one.
    let res = app
        .post("/api/rooms", &alice.token, json!({ "name": "three" }))
        .await;
    assert_eq!(res.error(), ErrorKind::LimitReached);
    let bobs = app.create_room(&bob, "bobs").await;
    assert_eq!(
        add(&app, &bob, &bobs, "alice").await.error(),
        ErrorKind::LimitReached
    );
    let res = act(&app, &alice, bobs.id, "join").await;
    assert_eq!(res.error(), ErrorKind::LimitReached);
    let res = app
        .post_message(&alice, bobs.id, json!({ "body": "hi" }))
        .await;
    assert_eq!(res.error(), ErrorKind::LimitReached);

    let app = TestApp::spawn_with(|s| {
        s.member_rate_limit = natter::config::RateLimit {
            per_second: 0.001,
            burst: 2,
        }
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.create_room(&alice, "general").await;
    assert_eq!(
        act(&app, &bob, room.id, "join").await.status,
        StatusCode::OK
    );
    assert_eq!(
        act(&app, &bob, room.id, "leave").await.status,
        StatusCode::NO_CONTENT
    );
    let res = act(&app, &bob, room.id, "join").await;
    assert_eq!(res.error(), ErrorKind::RateLimited);
    Ok(())
}

#[actix_web::test]
async fn a_deleted_private_room_is_told_to_its_members_alone() -> TestResult {
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let secret = private_room(&app, &alice, "secret").await;
    assert_eq!(
        add(&app, &alice, &secret, "bob").await.status,
        StatusCode::CREATED
    );
    let open = app.create_room(&alice, "open").await;
    let mut bobs = app.ws(&bob).await;
    let mut carols = app.ws(&carol).await;

    let path = format!("/api/rooms/{}", secret.id);
    let res = send(&app, Method::DELETE, &path, &root, None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    let told = bobs
        .until("room_deleted", |f| {
            matches!(f, ServerFrame::RoomDeleted { .. })
        })
        .await;
    assert_eq!(told, ServerFrame::RoomDeleted { room_id: secret.id });
    // A public room's deletion reaches everyone: the first carol hears is that one.
    let path = format!("/api/rooms/{}", open.id);
    let res = send(&app, Method::DELETE, &path, &root, None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
    let told = carols
        .until("room_deleted", |f| {
            matches!(f, ServerFrame::RoomDeleted { .. })
        })
        .await;
    assert_eq!(told, ServerFrame::RoomDeleted { room_id: open.id });
    Ok(())
}
