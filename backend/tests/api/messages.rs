use crate::helpers::{TestApp, TestResult};
use natter_shared::ws::ServerFrame;
use natter_shared::{ErrorKind, Message, MessageKind, RoomId};
use reqwest::StatusCode;
use serde_json::json;

#[actix_web::test]
async fn a_posted_message_is_stored_and_read_back() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.create_room(&alice, "general").await;
    let sent = app.send(&alice, room.id, "hello").await;
    assert_eq!(sent.author, "alice");
    assert_eq!(sent.kind, MessageKind::User);
    assert_eq!(sent.room_id, room.id);
    assert_eq!(sent.client_id, None);
    assert!((chrono::Utc::now() - sent.created_at).num_seconds().abs() < 60);

    let history = app.history(&bob, room.id, "").await;
    assert_eq!(history, vec![sent]);
    Ok(())
}

#[actix_web::test]
async fn history_is_the_newest_25_oldest_first_and_pages_back() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    let other = app.create_room(&alice, "other").await;
    let mut sent = Vec::new();
    for i in 1..=30 {
        sent.push(app.send(&alice, room.id, &format!("message {i}")).await);
        // Messages elsewhere must not leak into this room's pages.
        app.send(&alice, other.id, &format!("elsewhere {i}")).await;
    }
    let bodies = |page: &[Message]| page.iter().map(|m| m.body.clone()).collect::<Vec<_>>();
    let expect = |range: std::ops::RangeInclusive<i32>| {
        range.map(|i| format!("message {i}")).collect::<Vec<_>>()
    };

    let first = app.history(&alice, room.id, "").await;
    assert_eq!(bodies(&first), expect(6..=30));
    let ids: Vec<_> = first.iter().map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids rise: {ids:?}");

    let before = first[0].id;
    let next = app
        .history(&alice, room.id, &format!("?before={before}"))
        .await;
    assert_eq!(bodies(&next), expect(1..=5));
    let end = app
        .history(&alice, room.id, &format!("?before={}", next[0].id))
        .await;
    assert!(end.is_empty());

    let ten = app.history(&alice, room.id, "?limit=10").await;
    assert_eq!(bodies(&ten), expect(21..=30));
    let all = app.history(&alice, room.id, "?limit=100").await;
    assert_eq!(all, sent);
    Ok(())
}

#[actix_web::test]
async fn history_limits_are_checked() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    for query in ["?limit=0", "?limit=101"] {
        let res = app
            .get(
                &format!("/api/rooms/{}/messages{query}", room.id),
                &alice.token,
            )
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidLimit, "{query}");
    }
    for query in ["?limit=-1", "?limit=x", "?before=abc"] {
        let res = app
            .get(
                &format!("/api/rooms/{}/messages{query}", room.id),
                &alice.token,
            )
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidRequest, "{query}");
    }
    Ok(())
}

#[actix_web::test]
async fn the_same_client_id_stores_one_message() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.create_room(&alice, "general").await;
    let body = json!({ "body": "only once", "client_id": "c-42" });
    let first = app.post_message(&alice, room.id, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app.post_message(&alice, room.id, body.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED);
    let first: Message = first.json()?;
    assert_eq!(again.json::<Message>()?, first);
    assert_eq!(first.client_id.as_deref(), Some("c-42"));

    // Concurrent repeats still store one.
    let answers = futures::future::join_all((0..10).map(|_| {
        app.post_message(
            &alice,
            room.id,
            json!({ "body": "burst", "client_id": "c-43" }),
        )
    }))
    .await;
    let ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|a| a.json::<Message>().map(|m| m.id))
        .collect::<Result<_, _>>()?;
    assert_eq!(ids.len(), 1);

    // Another author may use the same client id.
    let bobs: Message = app.post_message(&bob, room.id, body).await.json()?;
    assert_ne!(bobs.id, first.id);

    let history = app.history(&alice, room.id, "").await;
    assert_eq!(history.len(), 3);
    Ok(())
}

#[actix_web::test]
async fn bodies_come_back_byte_for_byte() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("zoë").await;
    let room = app.create_room(&alice, "日本語").await;
    let bodies = [
        "'; DROP TABLE messages; --",
        "\" OR 1=1 --",
        "<img src=x onerror=alert(1)>",
        "<script>alert('x')</script>",
        "  leading and trailing spaces  ",
        "line one\nline two\r\n\ttabbed",
        "emoji 😀👍🏽 and ünïcödé 名前",
        "back\\slash %_ wildcards",
        "\u{202e}right-to-left override",
    ];
    for body in bodies {
        let sent = app.send(&alice, room.id, body).await;
        assert_eq!(sent.body, body);
    }
    let history = app.history(&alice, room.id, "").await;
    let got: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(got, bodies);
    assert!(history.iter().all(|m| m.author == "zoë"));
    Ok(())
}

#[actix_web::test]
async fn message_bodies_follow_the_rule() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let room = app.create_room(&alice, "general").await;
    let long = "x".repeat(4001);
    for body in ["", "   ", "\n\t", long.as_str()] {
        let res = app
            .post_message(&alice, room.id, json!({ "body": body }))
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidMessageBody, "{body:?}");
    }
    // 4000 characters of four bytes each is the limit, not 4000 bytes.
    let max = "😀".repeat(4000);
    assert_eq!(app.send(&alice, room.id, &max).await.body, max);

    let bad_ids = [json!(""), json!("x".repeat(65)), json!("a\nb")];
    for client_id in bad_ids {
        let res = app
            .post_message(
                &alice,
                room.id,
                json!({ "body": "hi", "client_id": client_id }),
            )
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidClientId);
    }
    assert_eq!(app.history(&alice, room.id, "").await.len(), 1);
    Ok(())
}

#[actix_web::test]
async fn posting_to_an_unknown_room_is_404() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let res = app
        .post_message(&alice, RoomId(404), json!({ "body": "hi" }))
        .await;
    assert_eq!(res.error(), ErrorKind::NotFound);
    Ok(())
}

#[actix_web::test]
async fn direct_rooms_carry_messages_between_their_members() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app
        .open_dm(&alice, "bob")
        .await
        .json::<natter_shared::Room>()?;
    app.send(&alice, room.id, "hi bob").await;
    app.send(&bob, room.id, "hi alice").await;
    let seen: Vec<_> = app
        .history(&bob, room.id, "")
        .await
        .into_iter()
        .map(|m| (m.author, m.body))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("alice".into(), "hi bob".into()),
            ("bob".into(), "hi alice".into())
        ]
    );
    Ok(())
}

#[actix_web::test]
async fn authors_edit_and_delete_their_messages_and_subscribers_hear_of_it() -> TestResult {
    use natter_shared::ws::ServerFrame;
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut watcher = app.ws(&bob).await;
    watcher.join(room.id, None).await;
    let first = app.send(&alice, room.id, "helo").await;
    let second = app.send(&alice, room.id, "oops").await;
    let path = |id: natter_shared::MessageId| format!("/api/rooms/{}/messages/{id}", room.id);

    // Only the author edits; the edit is marked and reaches subscribers.
    let by_bob = app
        .request(
            reqwest::Method::PATCH,
            &path(first.id),
            Some(&bob.token),
            Some(&json!({ "body": "x" })),
        )
        .await;
    assert_eq!(by_bob.error(), ErrorKind::Forbidden);
    let empty = app
        .request(
            reqwest::Method::PATCH,
            &path(first.id),
            Some(&alice.token),
            Some(&json!({ "body": "  " })),
        )
        .await;
    assert_eq!(empty.error(), ErrorKind::InvalidMessageBody);
    let edited = app
        .request(
            reqwest::Method::PATCH,
            &path(first.id),
            Some(&alice.token),
            Some(&json!({ "body": "hello" })),
        )
        .await;
    let edited: Message = edited.json()?;
    assert_eq!(edited.body, "hello");
    assert!(edited.edited_at.is_some());
    match watcher
        .until("edited", |f| matches!(f, ServerFrame::Edited { .. }))
        .await
    {
        ServerFrame::Edited { message } => assert_eq!(message, edited),
        other => panic!("expected an edit, got {other:?}"),
    }

    // Bob may not delete Alice's message; she may. Its text is gone from history.
    let refused = app
        .request(
            reqwest::Method::DELETE,
            &path(second.id),
            Some(&bob.token),
            None,
        )
        .await;
    assert_eq!(refused.error(), ErrorKind::Forbidden);
    let gone = app
        .request(
            reqwest::Method::DELETE,
            &path(second.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(gone.status, reqwest::StatusCode::NO_CONTENT);
    match watcher
        .until("deleted", |f| matches!(f, ServerFrame::Deleted { .. }))
        .await
    {
        ServerFrame::Deleted {
            room_id,
            message_id,
        } => {
            assert_eq!((room_id, message_id), (room.id, second.id))
        }
        other => panic!("expected a deletion, got {other:?}"),
    }
    let history = app.all_history(&alice, room.id).await;
    assert_eq!(history, [edited]);
    let again = app
        .request(
            reqwest::Method::DELETE,
            &path(second.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(again.error(), ErrorKind::NotFound);
    Ok(())
}

#[actix_web::test]
async fn admins_delete_any_message_and_whole_rooms() -> TestResult {
    use natter_shared::ws::ServerFrame;
    let app = TestApp::spawn().await;
    let root = app.admin("root").await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let message = app.send(&alice, room.id, "spam").await;
    let path = format!("/api/rooms/{}/messages/{}", room.id, message.id);
    let res = app
        .request(reqwest::Method::DELETE, &path, Some(&root.token), None)
        .await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT);
    assert!(app.all_history(&alice, room.id).await.is_empty());

    let mut socket = app.ws(&bob).await;
    socket.join(room.id, None).await;
    let room_path = format!("/api/rooms/{}", room.id);
    let res = app
        .request(
            reqwest::Method::DELETE,
            &room_path,
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(res.error(), ErrorKind::Forbidden);
    let res = app
        .request(reqwest::Method::DELETE, &room_path, Some(&root.token), None)
        .await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT);
    match socket
        .until("room deleted", |f| {
            matches!(f, ServerFrame::RoomDeleted { .. })
        })
        .await
    {
        ServerFrame::RoomDeleted { room_id } => assert_eq!(room_id, room.id),
        other => panic!("expected a room deletion, got {other:?}"),
    }
    assert_eq!(
        app.get(&room_path, &bob.token).await.error(),
        ErrorKind::NotFound
    );
    // Sending there now is refused, and the socket stays open.
    socket.say(room.id, "hello?", "late-1").await;
    assert!(matches!(
        socket.error().await,
        ServerFrame::Error {
            code: ErrorKind::NotFound,
            ..
        }
    ));
    Ok(())
}

#[actix_web::test]
async fn replies_answer_a_message_of_the_same_room_and_show_its_deletion() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let other = app.create_room(&alice, "other").await;
    let original = app.send(&bob, room.id, &"long words ".repeat(20)).await;
    let elsewhere = app.send(&alice, other.id, "somewhere else").await;

    let mut watcher = app.ws(&bob).await;
    watcher.join(room.id, None).await;
    let reply: Message = app
        .post_message(
            &alice,
            room.id,
            serde_json::json!({ "body": "agreed", "reply_to": original.id }),
        )
        .await
        .json()?;
    let quoted = reply
        .reply_to
        .clone()
        .expect("a reply says what it answers");
    assert_eq!((quoted.id, quoted.author.as_str()), (original.id, "bob"));
    assert_eq!(
        quoted.excerpt.chars().count(),
        natter_shared::REPLY_EXCERPT_CHARS
    );
    assert!(!quoted.deleted);
    // Live, and over a socket too.
    let live = crate::ws::next_message(&mut watcher).await;
    assert_eq!(live.reply_to, reply.reply_to);
    watcher
        .send(
            serde_json::json!({"type": "send", "room_id": room.id, "body": "me too",
                                 "client_id": "r-1", "reply_to": original.id}),
        )
        .await;
    let mine = crate::ws::next_message(&mut watcher).await;
    assert_eq!(mine.reply_to.map(|r| r.id), Some(original.id));

    // Another room's message, or none at all: refused, over REST and the socket alike.
    for target in [elsewhere.id.0, 999_999] {
        let res = app
            .post_message(
                &alice,
                room.id,
                serde_json::json!({ "body": "huh", "reply_to": target }),
            )
            .await;
        assert_eq!(res.error(), ErrorKind::InvalidReply);
    }
    watcher
        .send(
            serde_json::json!({"type": "send", "room_id": room.id, "body": "x",
                                 "client_id": "r-2", "reply_to": elsewhere.id}),
        )
        .await;
    match watcher.error().await {
        ServerFrame::Error {
            code, client_id, ..
        } => {
            assert_eq!(
                (code, client_id.as_deref()),
                (ErrorKind::InvalidReply, Some("r-2"))
            )
        }
        other => panic!("{other:?}"),
    }

    // The original deleted: the reply says so, and keeps nothing of its text.
    let path = format!("/api/rooms/{}/messages/{}", room.id, original.id);
    app.request(reqwest::Method::DELETE, &path, Some(&bob.token), None)
        .await;
    let history = app.history(&alice, room.id, "").await;
    let shown = history
        .iter()
        .find(|m| m.id == reply.id)
        .and_then(|m| m.reply_to.clone())
        .expect("the reply is in the history with its quote");
    assert!(shown.deleted && shown.excerpt.is_empty(), "{shown:?}");
    Ok(())
}

/// `PUT` or `DELETE` of `user`'s `emoji` on message `id` of `room`.
async fn react(
    app: &TestApp,
    user: &crate::helpers::TestUser,
    method: reqwest::Method,
    room: RoomId,
    id: natter_shared::MessageId,
    emoji: &str,
) -> crate::helpers::Answer {
    let path = format!(
        "/api/rooms/{room}/messages/{id}/reactions/{}",
        emoji
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    app.request(method, &path, Some(&user.token), None).await
}

#[actix_web::test]
async fn reactions_are_idempotent_live_and_limited() -> TestResult {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let message = app.send(&bob, room.id, "ship it?").await;
    let mut watcher = app.ws(&bob).await;
    watcher.join(room.id, None).await;

    for _ in 0..2 {
        let res = react(&app, &alice, Method::PUT, room.id, message.id, "👍").await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
    }
    react(&app, &bob, Method::PUT, room.id, message.id, "👍").await;
    react(&app, &bob, Method::PUT, room.id, message.id, "🎉").await;
    // One frame per change, none for the repeat.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        if let ServerFrame::Reaction {
            emoji, user, added, ..
        } = watcher
            .until("a reaction", |f| matches!(f, ServerFrame::Reaction { .. }))
            .await
        {
            seen.push((emoji, user, added));
        }
    }
    assert_eq!(
        seen,
        [
            ("👍".to_owned(), "alice".to_owned(), true),
            ("👍".to_owned(), "bob".to_owned(), true),
            ("🎉".to_owned(), "bob".to_owned(), true),
        ]
    );
    let shown = app.history(&alice, room.id, "").await.remove(0).reactions;
    assert_eq!(
        shown,
        vec![
            natter_shared::Reaction {
                emoji: "👍".into(),
                count: 2,
                users: vec!["alice".into(), "bob".into()]
            },
            natter_shared::Reaction {
                emoji: "🎉".into(),
                count: 1,
                users: vec!["bob".into()]
            },
        ]
    );
    for _ in 0..2 {
        let res = react(&app, &alice, Method::DELETE, room.id, message.id, "👍").await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
    }
    let shown = app.history(&alice, room.id, "").await.remove(0).reactions;
    assert_eq!(
        (shown[0].count, shown[0].users.clone()),
        (1, vec!["bob".to_owned()])
    );

    // Not an emoji, two of them, or a message of a room one cannot see: refused.
    for bad in ["x", "👍👍", "<script>"] {
        let res = react(&app, &alice, Method::PUT, room.id, message.id, bad).await;
        assert_eq!(res.error(), ErrorKind::InvalidEmoji, "{bad}");
    }
    let dm: natter_shared::Room = app.open_dm(&bob, "alice").await.json()?;
    let private = app.send(&bob, dm.id, "between us").await;
    let carol = app.user("carol").await;
    let res = react(&app, &carol, Method::PUT, dm.id, private.id, "👍").await;
    assert_eq!(res.error(), ErrorKind::NotFound);

    // At most twenty different emoji on one message.
    let emoji = [
        "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍",
        "🥰", "😘", "😗",
    ];
    for e in emoji {
        let res = react(&app, &alice, Method::PUT, room.id, message.id, e).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{e}");
    }
    let res = react(&app, &alice, Method::PUT, room.id, message.id, "🤔").await;
    assert_eq!(res.error(), ErrorKind::LimitReached);
    // One already there may still be added by someone else.
    let res = react(&app, &carol, Method::PUT, room.id, message.id, "🎉").await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    Ok(())
}

#[actix_web::test]
async fn a_page_opens_around_any_message_of_the_room() {
    let app = crate::helpers::TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(app.send(&alice, room.id, &format!("m{n}")).await.id);
    }
    let around = |id: natter_shared::MessageId, limit: u32| format!("?around={id}&limit={limit}");
    let bodies = |page: Vec<natter_shared::Message>| -> Vec<String> {
        page.into_iter().map(|m| m.body).collect()
    };
    let names =
        |range: std::ops::Range<usize>| -> Vec<String> { range.map(|n| format!("m{n}")).collect() };
    // A middle message: half the page after it, the rest it and before it.
    let page = app.history(&alice, room.id, &around(ids[15], 10)).await;
    assert_eq!(bodies(page), names(11..21));
    // The first and the last: the other side fills the page.
    let page = app.history(&alice, room.id, &around(ids[0], 10)).await;
    assert_eq!(bodies(page), names(0..10));
    let page = app.history(&alice, room.id, &around(ids[29], 10)).await;
    assert_eq!(bodies(page), names(20..30));
    // Reading down from a message: the oldest after it, and nothing after the last.
    let page = app
        .history(&alice, room.id, &format!("?after={}&limit=5", ids[20]))
        .await;
    assert_eq!(bodies(page), names(21..26));
    let page = app
        .history(&alice, room.id, &format!("?after={}", ids[29]))
        .await;
    assert!(page.is_empty());
    // A deleted message still has a place: its neighbours, without it.
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{}/messages/{}", room.id, ids[15]),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT);
    let page = app.history(&alice, room.id, &around(ids[15], 4)).await;
    assert_eq!(bodies(page), ["m13", "m14", "m16", "m17"]);
    // Another room's message, and `before` with `around`, are refused.
    let other = app.create_room(&alice, "other").await;
    let elsewhere = app.send(&alice, other.id, "elsewhere").await;
    let res = app
        .get(
            &format!(
                "/api/rooms/{}/messages{}",
                room.id,
                around(elsewhere.id, 10)
            ),
            &alice.token,
        )
        .await;
    assert_eq!(res.error(), natter_shared::ErrorKind::NotFound);
    let res = app
        .get(
            &format!("/api/rooms/{}/messages?around={}&before=5", room.id, ids[3]),
            &alice.token,
        )
        .await;
    assert_eq!(res.error(), natter_shared::ErrorKind::InvalidCursor);
}
