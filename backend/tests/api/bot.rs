use crate::helpers::{TestApp, TestResult, TestUser};
use crate::ws_client::WsClient;
use natter_shared::ws::ServerFrame;
use natter_shared::{Message, MessageKind, Notice, Room};
use reqwest::StatusCode;
use serde_json::json;

/// alice and bob in "general", each with a socket that has joined it.
async fn two_sockets_in_a_room(app: &TestApp) -> (TestUser, TestUser, Room, WsClient, WsClient) {
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    let mut b = app.ws(&bob).await;
    a.join(room.id, None).await;
    b.join(room.id, None).await;
    (alice, bob, room, a, b)
}

/// The next notice: its body and client id.
async fn notice(ws: &mut WsClient) -> (String, Option<String>) {
    match ws
        .until("notice", |f| matches!(f, ServerFrame::Notice { .. }))
        .await
    {
        ServerFrame::Notice {
            body, client_id, ..
        } => (body, client_id),
        _ => unreachable!(),
    }
}

#[actix_web::test]
async fn now_posts_a_bot_message_everyone_sees() -> TestResult {
    let app = TestApp::spawn().await;
    let (_alice, bob, room, mut a, mut b) = two_sockets_in_a_room(&app).await;

    let id = a.say_acked(room.id, "/now", "n1").await;
    let seen = match b
        .until("message", |f| matches!(f, ServerFrame::Message { .. }))
        .await
    {
        ServerFrame::Message { message } => message,
        _ => unreachable!(),
    };
    assert_eq!(seen.id, id);
    assert_eq!(seen.kind, MessageKind::Bot);
    assert_eq!(seen.author, "natterbot");
    // The body carries the time in RFC 3339, close to now.
    let stamp = seen
        .body
        .split(['(', ')'])
        .nth(1)
        .expect("an RFC 3339 time in brackets");
    let at = chrono::DateTime::parse_from_rfc3339(stamp)?;
    assert!((chrono::Utc::now() - at.to_utc()).num_seconds().abs() < 60);
    assert_eq!(app.history(&bob, room.id, "").await, vec![seen]);
    Ok(())
}

#[actix_web::test]
async fn help_who_and_refused_commands_answer_privately_and_store_nothing() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room, mut a, mut b) = two_sockets_in_a_room(&app).await;

    a.say(room.id, "/help", "h1").await;
    let (help, cid) = notice(&mut a).await;
    assert_eq!(cid.as_deref(), Some("h1"));
    for usage in ["/help", "/now", "/sms USERNAME", "/who", "/me ACTION"] {
        assert!(help.contains(usage), "{help}");
    }
    a.say(room.id, "/who", "w1").await;
    let (who, _) = notice(&mut a).await;
    assert_eq!(who, "Online here: alice, bob");
    a.say(room.id, "/dance", "d1").await;
    let (unknown, _) = notice(&mut a).await;
    assert!(unknown.starts_with("unknown command /dance"), "{unknown}");
    a.say(room.id, "/sms", "s1").await;
    let (usage, _) = notice(&mut a).await;
    assert!(usage.contains("Usage: /sms USERNAME"), "{usage}");

    // Bob saw none of it: his next frame is the marker.
    let marker = a.say_acked(room.id, "marker", "m").await;
    match b
        .until("message or notice", |f| {
            !matches!(f, ServerFrame::Presence { .. })
        })
        .await
    {
        ServerFrame::Message { message } => assert_eq!(message.id, marker),
        other => panic!("bob saw {other:?}"),
    }
    assert_eq!(app.history(&alice, room.id, "").await.len(), 1);
    Ok(())
}

#[actix_web::test]
async fn me_is_stored_as_written() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    let id = a.say_acked(room.id, "/me waves", "e1").await;
    let history = app.history(&alice, room.id, "").await;
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].id, history[0].body.as_str()), (id, "/me waves"));
    assert_eq!(history[0].kind, MessageKind::User);
    Ok(())
}

#[actix_web::test]
async fn commands_behave_the_same_over_rest() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;

    let now = app
        .post_message(&alice, room.id, json!({ "body": "/now" }))
        .await;
    assert_eq!(now.status, StatusCode::CREATED);
    let now: Message = now.json()?;
    assert_eq!(
        (now.kind, now.author.as_str()),
        (MessageKind::Bot, "natterbot")
    );

    let help = app
        .post_message(&alice, room.id, json!({ "body": "/help" }))
        .await;
    assert_eq!(help.status, StatusCode::OK);
    let help: Notice = help.json()?;
    assert_eq!(help.room_id, room.id);
    assert!(help.notice.contains("/now"));

    let unknown: Notice = app
        .post_message(&alice, room.id, json!({ "body": "/nope" }))
        .await
        .json()?;
    assert!(unknown.notice.starts_with("unknown command /nope"));

    // A slash not followed by a letter is an ordinary message.
    let plain = app.send(&alice, room.id, "/ not a command").await;
    assert_eq!(plain.kind, MessageKind::User);
    let bodies: Vec<_> = app
        .history(&alice, room.id, "")
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    Ok(())
}
