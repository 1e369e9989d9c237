//! History pages from memory (`realtime::recent`): a room's newest page, once read, comes
//! from the messages the server keeps; it must always equal what the database reads.

use crate::helpers::{TestApp, TestResult, TestUser};
use natter_shared::ws::ServerFrame;
use natter_shared::{Message, RoomId};
use reqwest::{Method, StatusCode};
use serde_json::json;

const MEMORY: &str = "natter_history_pages_from_memory_total";

/// The newest pages of `room` as `app` answers them (from memory once read) equal the same
/// pages read from the database: `around` their newest message, which memory never answers;
/// so does a page below a message that memory holds.
pub async fn assert_pages_agree(app: &TestApp, user: &TestUser, room: RoomId) -> Vec<Message> {
    let mut newest = Vec::new();
    for limit in [25, 100, 7] {
        let kept = app.history(user, room, &format!("?limit={limit}")).await;
        let again = app.history(user, room, &format!("?limit={limit}")).await;
        assert_eq!(kept, again, "a page read twice (limit {limit})");
        let Some(last) = kept.last() else {
            continue;
        };
        let read = app
            .history(user, room, &format!("?around={}&limit={limit}", last.id))
            .await;
        assert_eq!(kept, read, "memory and database disagree (limit {limit})");
        if limit == 100 {
            newest = kept;
        }
    }
    if let Some(middle) = newest.get(newest.len() / 2) {
        let below = app
            .history(user, room, &format!("?before={}&limit=10", middle.id))
            .await;
        let at = newest.len() / 2;
        assert_eq!(below, newest[at.saturating_sub(10)..at], "a page below");
    }
    newest
}

async fn react(app: &TestApp, user: &TestUser, message: &Message, method: Method) {
    let path = format!(
        "/api/rooms/{}/messages/{}/reactions/%F0%9F%91%8D",
        message.room_id, message.id
    );
    let res = app.request(method, &path, Some(&user.token), None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.body);
}

#[actix_web::test]
async fn pages_from_memory_equal_the_database_through_posts_edits_deletes_and_reactions()
-> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let path = format!("/api/rooms/{}/join", room.id);
    app.request(Method::POST, &path, Some(&bob.token), None)
        .await;
    let mut sent = Vec::new();
    for i in 0..130 {
        let who = if i % 3 == 0 { &bob } else { &alice };
        sent.push(app.send(who, room.id, &format!("message **{i}**")).await);
    }
    let before = app.metric(MEMORY).await;
    assert_pages_agree(&app, &alice, room.id).await;
    assert!(
        app.metric(MEMORY).await > before,
        "the second read of a page came from memory"
    );

    // New messages are added to what is kept.
    for i in 0..10 {
        sent.push(app.send(&bob, room.id, &format!("later {i}")).await);
    }
    let newest = assert_pages_agree(&app, &bob, room.id).await;
    assert_eq!(newest.last().map(|m| m.id), sent.last().map(|m| m.id));

    // An edit, a reaction, a reply and its original deleted, a deletion.
    let last = sent[sent.len() - 1].clone();
    let res = app
        .edit(&bob, room.id, sent[sent.len() - 2].id, "edited")
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_pages_agree(&app, &alice, room.id).await;
    react(&app, &alice, &last, Method::PUT).await;
    let newest = assert_pages_agree(&app, &alice, room.id).await;
    assert_eq!(newest.last().map(|m| m.reactions.len()), Some(1));
    let reply: Message = app
        .post_message(
            &alice,
            room.id,
            json!({ "body": "so", "reply_to": last.id }),
        )
        .await
        .json()?;
    assert_pages_agree(&app, &alice, room.id).await;
    app.delete_message(&bob, room.id, last.id).await;
    let newest = assert_pages_agree(&app, &alice, room.id).await;
    let shown = newest.iter().find(|m| m.id == reply.id).expect("the reply");
    assert!(shown.reply_to.as_ref().is_some_and(|r| r.deleted));
    assert!(!newest.iter().any(|m| m.id == last.id), "the deleted one");
    react(&app, &alice, &sent[sent.len() - 3], Method::PUT).await;
    react(&app, &alice, &sent[sent.len() - 3], Method::DELETE).await;
    assert_pages_agree(&app, &bob, room.id).await;
    Ok(())
}

#[actix_web::test]
async fn a_member_removed_or_signed_out_gets_nothing_from_memory() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.create_private_room(&alice, "secret").await;
    let res = app.add_member(&alice, room.id, "bob").await;
    assert!(res.status.is_success(), "{}", res.body);
    app.send(&alice, room.id, "for members").await;
    // bob's page is now kept, and so is bob.
    app.get("/api/rooms", &bob.token).await;
    assert_pages_agree(&app, &bob, room.id).await;

    let path = format!("/api/rooms/{}/members/{}", room.id, bob.auth.user.id);
    let res = app
        .request(Method::DELETE, &path, Some(&alice.token), None)
        .await;
    assert!(res.status.is_success(), "{}", res.body);
    let res = app
        .get(&format!("/api/rooms/{}/messages", room.id), &bob.token)
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);

    // alice changes her password: her old token reads nothing, from memory or not.
    assert_pages_agree(&app, &alice, room.id).await;
    let res = app
        .post(
            "/api/me/password",
            &alice.token,
            json!({ "current_password": crate::helpers::PASSWORD, "new_password": "another horse" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let res = app
        .get(&format!("/api/rooms/{}/messages", room.id), &alice.token)
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    Ok(())
}

#[actix_web::test]
async fn a_page_from_memory_is_never_behind_a_socket() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    app.send(&alice, room.id, "first").await;
    assert_pages_agree(&app, &alice, room.id).await;
    let mut ws = app.ws(&alice).await;
    ws.join(room.id, None).await;
    for i in 0..20 {
        app.send(&alice, room.id, &format!("burst {i}")).await;
        let seen = match ws
            .until("a message", |f| matches!(f, ServerFrame::Message { .. }))
            .await
        {
            ServerFrame::Message { message } => message,
            other => panic!("{other:?}"),
        };
        let page = app.history(&alice, room.id, "?limit=5").await;
        assert!(
            page.iter().any(|m| m.id == seen.id),
            "the page has what the socket showed"
        );
    }
    Ok(())
}
