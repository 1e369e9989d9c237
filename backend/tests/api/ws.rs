use crate::helpers::{TestApp, TestResult};
use crate::ws_client::WsClient;
use natter::config::RateLimit;
use natter_shared::ws::ServerFrame;
use natter_shared::ws::close;
use natter_shared::{ErrorKind, Message, MessageId, MessageKind, Room};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

fn message_of(frame: ServerFrame) -> Message {
    match frame {
        ServerFrame::Message { message } => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub(crate) async fn next_message(ws: &mut WsClient) -> Message {
    message_of(
        ws.until("message", |f| matches!(f, ServerFrame::Message { .. }))
            .await,
    )
}

fn error_code(frame: &ServerFrame) -> ErrorKind {
    match frame {
        ServerFrame::Error { code, .. } => *code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_socket_authenticates_by_header_query_or_first_frame() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;

    app.ws(&alice).await.close().await;

    let mut by_query = app
        .ws_connect(&format!("?token={}", alice.token), &[])
        .await?;
    assert!(matches!(by_query.next().await, ServerFrame::Ready { .. }));

    let mut by_frame = app.ws_connect("", &[]).await?;
    by_frame
        .send(json!({ "type": "auth", "token": alice.token }))
        .await;
    match by_frame.next().await {
        ServerFrame::Ready { user } => assert_eq!(user.username, "alice"),
        other => panic!("expected ready, got {other:?}"),
    }
    Ok(())
}

#[actix_web::test]
async fn bad_tokens_are_refused_before_or_after_the_upgrade() -> TestResult {
    let app = TestApp::spawn().await;
    let refused = app
        .ws_connect("", &[("authorization", "Bearer nonsense")])
        .await;
    match refused {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let refused = app.ws_connect("?token=nonsense", &[]).await;
    assert!(matches!(refused, Err(tungstenite::Error::Http(res)) if res.status() == 401));

    // A bad auth frame: an error, then a close.
    let mut ws = app.ws_connect("", &[]).await?;
    ws.send(json!({ "type": "auth", "token": "nonsense" }))
        .await;
    assert_eq!(error_code(&ws.next().await), ErrorKind::InvalidToken);
    assert_eq!(ws.ended().await.code(), Some(close::POLICY));

    // Anything but auth first: refused.
    let mut ws = app.ws_connect("", &[]).await?;
    ws.send(json!({ "type": "join", "room_id": 1 })).await;
    assert_eq!(error_code(&ws.next().await), ErrorKind::MissingToken);
    assert_eq!(ws.ended().await.code(), Some(close::POLICY));
    Ok(())
}

#[actix_web::test]
async fn a_socket_that_never_authenticates_is_closed() -> TestResult {
    let app = TestApp::spawn_with(|s| s.auth_timeout_ms = 300).await;
    let mut ws = app.ws_connect("", &[]).await?;
    assert_eq!(error_code(&ws.next().await), ErrorKind::MissingToken);
    assert_eq!(ws.ended().await.code(), Some(close::POLICY));
    Ok(())
}

#[actix_web::test]
async fn foreign_origins_are_refused() -> TestResult {
    let app =
        TestApp::spawn_with(|s| s.allowed_origins = vec!["http://localhost:8081".into()]).await;
    let alice = app.user("alice").await;
    let auth = format!("Bearer {}", alice.token);
    let evil = app
        .ws_connect(
            "",
            &[("authorization", &auth), ("origin", "https://evil.example")],
        )
        .await;
    assert!(matches!(evil, Err(tungstenite::Error::Http(res)) if res.status() == 403));

    let own = format!("http://127.0.0.1:{}", app.port);
    for origin in [own.as_str(), "http://localhost:8081"] {
        let mut ws = app
            .ws_connect("", &[("authorization", &auth), ("origin", origin)])
            .await?;
        assert!(
            matches!(ws.next().await, ServerFrame::Ready { .. }),
            "{origin}"
        );
    }
    Ok(())
}

#[actix_web::test]
async fn a_message_is_acked_stored_and_delivered_to_every_subscriber() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    let mut b = app.ws(&bob).await;
    assert_eq!(a.join(room.id, None).await, ["alice"]);
    assert_eq!(b.join(room.id, None).await, ["alice", "bob"]);

    a.say(room.id, "hello <b>bob</b>", "c1").await;
    let mut got_ack = None;
    let mut got_message = None;
    while got_ack.is_none() || got_message.is_none() {
        match a.next().await {
            ServerFrame::Ack {
                client_id,
                message_id,
            } => {
                assert_eq!(client_id.as_deref(), Some("c1"));
                got_ack = Some(message_id);
            }
            ServerFrame::Message { message } => got_message = Some(message),
            ServerFrame::Presence { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let id = got_ack.expect("an ack");
    let echoed = got_message.expect("the sender's copy");
    assert_eq!(echoed.id, id);

    let seen = next_message(&mut b).await;
    assert_eq!(seen, echoed);
    assert_eq!(seen.body, "hello <b>bob</b>");
    assert_eq!(seen.author, "alice");
    assert_eq!(seen.kind, MessageKind::User);
    assert_eq!(app.history(&bob, room.id, "").await, vec![seen]);
    Ok(())
}

#[actix_web::test]
async fn rest_posts_are_delivered_live() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut b = app.ws(&bob).await;
    b.join(room.id, None).await;
    let posted = app.send(&alice, room.id, "from curl").await;
    assert_eq!(next_message(&mut b).await, posted);
    Ok(())
}

#[actix_web::test]
async fn a_repeated_client_id_is_acked_again_and_delivered_once() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    let mut b = app.ws(&bob).await;
    a.join(room.id, None).await;
    b.join(room.id, None).await;

    let first = a.say_acked(room.id, "once", "dup").await;
    let again = a.say_acked(room.id, "once", "dup").await;
    assert_eq!(first, again);
    let marker = a.say_acked(room.id, "after", "marker").await;

    // Bob sees "once" and then "after": no second copy in between.
    let seen = [next_message(&mut b).await, next_message(&mut b).await];
    assert_eq!(seen.map(|m| m.id), [first, marker]);
    assert_eq!(app.history(&alice, room.id, "").await.len(), 2);
    Ok(())
}

#[actix_web::test]
async fn join_since_replays_what_was_missed_in_order() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let seen = app.send(&alice, room.id, "seen before").await;
    let missed: Vec<Message> = {
        let mut v = Vec::new();
        for i in 0..7 {
            v.push(app.send(&alice, room.id, &format!("missed {i}")).await);
        }
        v
    };
    let mut b = app.ws(&bob).await;
    b.join(room.id, Some(seen.id)).await;
    for expected in &missed {
        assert_eq!(&next_message(&mut b).await, expected);
    }
    let live = app.send(&alice, room.id, "live").await;
    assert_eq!(next_message(&mut b).await, live);
    Ok(())
}

#[actix_web::test]
async fn the_replay_and_live_seam_has_no_gap_and_no_duplicate() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    for i in 0..100 {
        a.say(room.id, &format!("before {i}"), &format!("b{i}"))
            .await;
    }
    // Keep sending while bob joins with since=0 in the middle of the stream. One socket's
    // sends are stored in the order sent, so "last" is the last message stored.
    let sender = async {
        for i in 0..300 {
            a.say(room.id, &format!("during {i}"), &format!("d{i}"))
                .await;
        }
        a.say_acked(room.id, "last", "last").await
    };
    let receiver = async {
        let mut b = app.ws(&bob).await;
        b.join(room.id, Some(MessageId(0))).await;
        let mut ids = Vec::new();
        loop {
            let m = next_message(&mut b).await;
            ids.push(m.id);
            if m.body == "last" {
                return ids;
            }
        }
    };
    let (last, ids) = futures::join!(sender, receiver);
    assert_eq!(ids.last(), Some(&last));
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicates"
    );
    let stored: Vec<MessageId> = app
        .all_history(&bob, room.id)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored.len(), 401);
    let missing: Vec<_> = stored.iter().filter(|id| !ids.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "missing {missing:?} of {}; got {}",
        stored.len(),
        ids.len()
    );
    assert_eq!(ids, stored, "every stored message exactly once");
    Ok(())
}

#[actix_web::test]
async fn direct_rooms_stay_private_over_the_socket() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    let dm: Room = app.open_dm(&alice, "bob").await.json()?;

    let mut b = app.ws(&bob).await;
    b.join(dm.id, None).await;
    let mut e = app.ws(&eve).await;
    e.send(json!({ "type": "join", "room_id": dm.id })).await;
    assert_eq!(error_code(&e.error().await), ErrorKind::NotFound);
    e.say(dm.id, "let me in", "e1").await;
    match e.error().await {
        ServerFrame::Error {
            code, client_id, ..
        } => {
            assert_eq!(code, ErrorKind::NotFound);
            assert_eq!(client_id.as_deref(), Some("e1"));
        }
        _ => unreachable!(),
    }
    let sent = app.send(&alice, dm.id, "private").await;
    assert_eq!(next_message(&mut b).await, sent);
    assert_eq!(app.history(&bob, dm.id, "").await, vec![sent]);
    // Eve's socket got nothing of it: the next thing she sees is her own error.
    e.send(json!({ "type": "leave", "room_id": dm.id })).await;
    assert_eq!(error_code(&e.next().await), ErrorKind::NotFound);
    Ok(())
}

#[actix_web::test]
async fn presence_is_right_with_two_tabs() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut b = app.ws(&bob).await;
    b.join(room.id, None).await;

    let mut tab1 = app.ws(&alice).await;
    tab1.join(room.id, None).await;
    match b.next().await {
        ServerFrame::Presence { user, online, .. } => {
            assert_eq!((user.as_str(), online), ("alice", true))
        }
        other => panic!("expected presence, got {other:?}"),
    }
    let mut tab2 = app.ws(&alice).await;
    assert_eq!(tab2.join(room.id, None).await, ["alice", "bob"]);

    // The first tab closing changes nothing; a message proves no presence came before it.
    tab1.close().await;
    let marker = app.send(&bob, room.id, "marker").await;
    assert_eq!(message_of(b.next().await), marker);

    // The last tab leaving takes alice offline.
    tab2.send(json!({ "type": "leave", "room_id": room.id }))
        .await;
    match b.next().await {
        ServerFrame::Presence { user, online, .. } => {
            assert_eq!((user.as_str(), online), ("alice", false))
        }
        other => panic!("expected presence, got {other:?}"),
    }
    Ok(())
}

#[actix_web::test]
async fn typing_is_relayed_to_others_and_throttled() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    let mut b = app.ws(&bob).await;
    a.join(room.id, None).await;
    b.join(room.id, None).await;
    for _ in 0..5 {
        a.send(json!({ "type": "typing", "room_id": room.id }))
            .await;
    }
    a.say(room.id, "done typing", "m").await;
    // Alice never sees her own typing: her next frames are the ack and her message.
    let mut marker = None;
    let mut echoed = false;
    while marker.is_none() || !echoed {
        match a.next().await {
            ServerFrame::Ack { message_id, .. } => marker = Some(message_id),
            ServerFrame::Message { .. } => echoed = true,
            ServerFrame::Presence { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let marker = marker.expect("an ack");
    // Bob: exactly one typing event, then the message.
    match b.next().await {
        ServerFrame::Typing { user, room_id } => {
            assert_eq!((user.as_str(), room_id), ("alice", room.id))
        }
        other => panic!("expected typing, got {other:?}"),
    }
    assert_eq!(message_of(b.next().await).id, marker);
    Ok(())
}

#[actix_web::test]
async fn a_burst_from_100_clients_loses_and_duplicates_nothing() -> TestResult {
    const CLIENTS: usize = 100;
    const EACH: usize = 20;
    let app = TestApp::spawn().await;
    let owner = app.user("owner").await;
    let room = app.create_room(&owner, "burst").await;
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let user = app.user(&format!("user{i:03}")).await;
        let mut ws = app.ws(&user).await;
        ws.join(room.id, None).await;
        clients.push(ws);
    }
    let total = CLIENTS * EACH;
    let runs = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| async move {
            for j in 0..EACH {
                ws.say(room.id, &format!("{i}:{j}"), &format!("{i}-{j}"))
                    .await;
            }
            let mut acks = 0;
            let mut seen: HashMap<MessageId, usize> = HashMap::new();
            while acks < EACH || seen.len() < total {
                match ws.next().await {
                    ServerFrame::Ack { .. } => acks += 1,
                    ServerFrame::Message { message } => *seen.entry(message.id).or_default() += 1,
                    ServerFrame::Presence { .. } => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
            seen
        });
    let results = futures::future::join_all(runs).await;
    let all_ids: BTreeSet<MessageId> = results[0].keys().copied().collect();
    for seen in &results {
        assert_eq!(seen.len(), total, "every message delivered");
        assert!(seen.values().all(|n| *n == 1), "no duplicates");
        assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), all_ids);
    }
    let stored: BTreeSet<MessageId> = app
        .all_history(&owner, room.id)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored, all_ids, "every message stored once");
    Ok(())
}

/// `readers` sockets in one room, spread over `nodes`; the first `senders` of them each send
/// `each` messages at once, and one more socket joins with `since` while they are stored.
/// Every socket gets every message once, in id order, and none is closed; what was
/// delivered is what is stored. Returns how many times sessions caught up from the database.
pub async fn a_burst_reaches_every_reader(
    nodes: &[&TestApp],
    readers: usize,
    senders: usize,
    each: usize,
) -> TestResult<f64> {
    let owner = nodes[0].user("owner").await;
    let room = nodes[0].create_room(&owner, "burst").await;
    let mut clients = Vec::new();
    for i in 0..readers {
        let node = nodes[i % nodes.len()];
        let user = node.user(&format!("reader{i:03}")).await;
        let mut ws = node.ws(&user).await;
        ws.join(room.id, None).await;
        clients.push(ws);
    }
    let total = senders * each;
    let late = nodes[nodes.len() - 1].ws(&owner).await;
    let read_all = |mut ws: WsClient, sends: usize| async move {
        let (mut acks, mut got) = (0, Vec::with_capacity(total));
        while acks < sends || got.len() < total {
            match ws.next().await {
                ServerFrame::Ack { .. } => acks += 1,
                ServerFrame::Message { message } => got.push(message.id),
                ServerFrame::Presence { .. } | ServerFrame::Joined { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (ws, got)
    };
    let mut runs = Vec::new();
    for (i, mut ws) in clients.into_iter().enumerate() {
        let sends = if i < senders { each } else { 0 };
        for j in 0..sends {
            ws.say(room.id, &format!("{i}:{j}"), &format!("{i}-{j}"))
                .await;
        }
        runs.push(read_all(ws, sends));
    }
    // Joining while the burst is stored: its replay and the live messages meet.
    let mut late = late;
    late.join(room.id, Some(MessageId(0))).await;
    runs.push(read_all(late, 0));
    let results = futures::future::join_all(runs).await;

    let stored: Vec<MessageId> = nodes[0]
        .all_history(&owner, room.id)
        .await
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored.len(), total, "every message stored once");
    for (i, (_, got)) in results.iter().enumerate() {
        assert_eq!(got, &stored, "socket {i} got every message once, in order");
    }
    let mut catchups = 0.0;
    for node in nodes {
        assert_eq!(
            node.metric("natter_slow_sessions_dropped_total").await,
            0.0,
            "no socket was closed"
        );
        catchups += node.metric("natter_session_catchups_total").await;
    }
    // Still open: each socket answers.
    for (mut ws, _) in results {
        ws.send(json!({ "type": "typing", "room_id": room.id }))
            .await;
        ws.close().await;
    }
    Ok(catchups)
}

#[actix_web::test]
async fn a_burst_larger_than_the_room_buffer_reaches_every_reader_and_closes_none() -> TestResult {
    let app = TestApp::spawn_with(|s| s.room_buffer = 32).await;
    let catchups = a_burst_reaches_every_reader(&[&app], 200, 50, 20).await?;
    assert!(
        catchups > 0.0,
        "1,000 messages through a buffer of 32: sessions fell behind and caught up"
    );
    Ok(())
}

#[actix_web::test]
async fn a_client_that_never_reads_is_cut_off_while_others_keep_up() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.heartbeat_ms = 200;
        s.client_timeout_ms = 2000;
    })
    .await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    // The slow client asks the kernel for a tiny receive window and then never reads.
    let slow_user = app.user("slowpoke").await;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let tcp = socket
        .connect(format!("127.0.0.1:{}", app.port).parse()?)
        .await?;
    let url = format!("{}?token={}", app.ws_url(""), slow_user.token);
    let (stream, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await?;
    let mut slow = WsClient {
        stream,
        membership: false,
    };
    assert!(matches!(slow.next().await, ServerFrame::Ready { .. }));
    slow.join(room.id, None).await;

    let mut b = app.ws(&bob).await;
    b.join(room.id, None).await;
    let body = "x".repeat(3000);
    let sender = async {
        for _ in 0..400 {
            app.send(&alice, room.id, &body).await;
        }
    };
    let slowpoke_left = |f: &ServerFrame| matches!(f, ServerFrame::Presence { user, online: false, .. } if user == "slowpoke");
    // The slow session may be let go while the messages are still coming (when sending
    // them takes longer than the client timeout): that counts too.
    let reader = async {
        let (mut got, mut left) = (0, false);
        while got < 400 {
            match b.next().await {
                ServerFrame::Message { .. } => got += 1,
                frame => left |= slowpoke_left(&frame),
            }
        }
        (got, left)
    };
    let ((), (got, left)) = futures::join!(sender, reader);
    assert_eq!(got, 400, "the reading client got everything");

    // The server lets the slow session go: bob sees it leave the room.
    if !left {
        let gone = b.until("slowpoke offline", slowpoke_left).await;
        assert!(slowpoke_left(&gone));
    }
    drop(slow);
    // The room goes on: bob still receives.
    let after = app.send(&alice, room.id, "still here").await;
    let seen = b
        .until("message", |f| matches!(f, ServerFrame::Message { .. }))
        .await;
    assert_eq!(message_of(seen), after);
    Ok(())
}

#[actix_web::test]
async fn a_silent_client_is_closed_and_leaves_presence() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.heartbeat_ms = 100;
        s.client_timeout_ms = 400;
    })
    .await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let mut b = app.ws(&bob).await;
    b.join(room.id, None).await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    // From here alice never reads, so she never answers a ping.
    let online = b
        .until("presence", |f| {
            matches!(f, ServerFrame::Presence { online: true, .. })
        })
        .await;
    assert!(matches!(online, ServerFrame::Presence { ref user, .. } if user == "alice"));
    // Bob keeps reading (and so answering pings); alice goes offline.
    let offline = b
        .until("offline", |f| {
            matches!(f, ServerFrame::Presence { online: false, .. })
        })
        .await;
    assert!(matches!(offline, ServerFrame::Presence { ref user, .. } if user == "alice"));
    drop(a);
    Ok(())
}

#[actix_web::test]
async fn the_rate_limit_refuses_with_how_long_to_wait() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.rate_limit = RateLimit {
            per_second: 0.5,
            burst: 3,
        }
    })
    .await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    for i in 0..3 {
        a.say_acked(room.id, "ok", &format!("r{i}")).await;
    }
    a.say(room.id, "too many", "r3").await;
    match a.error().await {
        ServerFrame::Error {
            code,
            client_id,
            retry_after_ms,
            ..
        } => {
            assert_eq!(code, ErrorKind::RateLimited);
            assert_eq!(client_id.as_deref(), Some("r3"));
            assert!(retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 2001));
        }
        _ => unreachable!(),
    }
    // REST shares the bucket: 429 with Retry-After.
    let res = app
        .client
        .post(format!("{}/api/rooms/{}/messages", app.addr, room.id))
        .bearer_auth(&alice.token)
        .json(&json!({ "body": "rest" }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(
        app.history(&alice, room.id, "").await.len(),
        3,
        "refused messages are not stored"
    );
    Ok(())
}

#[actix_web::test]
async fn bad_input_gets_an_error_frame_and_the_socket_stays_open() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let secret = app.create_room(&alice, "elsewhere").await;
    let eve = app.user("eve").await;
    let dm: Room = app.open_dm(&alice, "bob").await.json()?;
    let mut ws = app.ws(&eve).await;
    ws.join(room.id, None).await;

    let long_body = "x".repeat(4001);
    let huge = format!(
        r#"{{"type":"send","room_id":{},"body":"{}"}}"#,
        room.id,
        "y".repeat(70 * 1024)
    );
    let cases: Vec<(WsMessage, ErrorKind)> = vec![
        (WsMessage::text("not json"), ErrorKind::MalformedJson),
        (WsMessage::text("{\"type\":"), ErrorKind::MalformedJson),
        (
            WsMessage::text(r#"{"type":"dance"}"#),
            ErrorKind::InvalidRequest,
        ),
        (
            WsMessage::text(r#"{"type":"send","room_id":1}"#),
            ErrorKind::InvalidRequest,
        ),
        (
            WsMessage::text(r#"{"type":"join","room_id":"x"}"#),
            ErrorKind::InvalidRequest,
        ),
        (
            WsMessage::binary(vec![1u8, 2, 3]),
            ErrorKind::InvalidRequest,
        ),
        (WsMessage::text(huge), ErrorKind::PayloadTooLarge),
        (
            WsMessage::text(json!({"type":"send","room_id":room.id,"body":long_body}).to_string()),
            ErrorKind::InvalidMessageBody,
        ),
        (
            WsMessage::text(json!({"type":"send","room_id":room.id,"body":"   "}).to_string()),
            ErrorKind::InvalidMessageBody,
        ),
        (
            WsMessage::text(json!({"type":"join","room_id":dm.id}).to_string()),
            ErrorKind::NotFound,
        ),
        (
            WsMessage::text(json!({"type":"join","room_id":9999}).to_string()),
            ErrorKind::NotFound,
        ),
        (
            WsMessage::text(json!({"type":"typing","room_id":secret.id}).to_string()),
            ErrorKind::NotFound,
        ),
        (
            WsMessage::text(json!({"type":"auth","token":"x"}).to_string()),
            ErrorKind::InvalidRequest,
        ),
    ];
    for (frame, expected) in cases {
        let shown = format!("{frame:?}").chars().take(80).collect::<String>();
        ws.send_raw(frame).await;
        assert_eq!(error_code(&ws.error().await), expected, "{shown}");
    }
    // Still open and working.
    let id = ws.say_acked(room.id, "still here", "ok").await;
    assert_eq!(
        app.history(&eve, room.id, "").await.last().map(|m| m.id),
        Some(id)
    );
    assert_eq!(
        app.history(&eve, room.id, "").await.len(),
        1,
        "nothing bad was stored"
    );
    Ok(())
}

#[actix_web::test]
async fn a_frame_over_a_mebibyte_is_not_read_and_closes_with_1009() -> TestResult {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice).await;
    ws.send_raw(WsMessage::text("x".repeat(1024 * 1024 + 1024)))
        .await;
    assert_eq!(ws.ended().await.code(), Some(close::TOO_BIG));
    Ok(())
}

#[actix_web::test]
async fn shutdown_closes_sockets_with_1001_and_keeps_what_was_stored() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    let id = a.say_acked(room.id, "before shutdown", "s1").await;
    app.stopper.stop().await;
    assert_eq!(a.ended().await.code(), Some(close::GOING_AWAY));

    let again = TestApp::spawn_on(app.db.shared(), tempfile::tempdir()?, |_| {}).await;
    // The token secret lives beside the first database, so log in again on the new one.
    let login: natter_shared::AuthResponse = again
        .login_as("alice", crate::helpers::PASSWORD)
        .await
        .json()?;
    let user = crate::helpers::TestUser {
        token: login.token.clone(),
        auth: login,
    };
    let history = again.history(&user, room.id, "").await;
    assert_eq!(history.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
    Ok(())
}

fn room_of(frame: ServerFrame) -> Room {
    match frame {
        ServerFrame::Room { room } => room,
        other => panic!("expected a room, got {other:?}"),
    }
}

#[actix_web::test]
async fn new_rooms_are_announced_to_those_who_may_see_them() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let (mut a, mut b, mut c) = (
        app.ws(&alice).await.with_membership(),
        app.ws(&bob).await.with_membership(),
        app.ws(&carol).await.with_membership(),
    );
    let is_room = |f: &ServerFrame| matches!(f, ServerFrame::Room { .. });

    // A new room goes to its owner's sockets alone (others find public rooms in the
    // directory).
    let general = app.create_room(&alice, "general").await;
    assert_eq!(room_of(a.until("room", is_room).await), general);

    let dm: Room = app.open_dm(&alice, "bob").await.json()?;
    assert_eq!(room_of(a.until("room", is_room).await), dm);
    let bobs = room_of(b.until("room", is_room).await);
    assert_eq!((bobs.id, bobs.name.as_str()), (dm.id, "alice"));
    // Opening it again announces nothing; carol never hears of either: her first room is the
    // one she is added to.
    app.open_dm(&alice, "bob").await;
    let later = app.create_room(&bob, "later").await;
    assert_eq!(room_of(b.until("room", is_room).await), later);
    let res = app
        .post(
            &format!("/api/rooms/{}/members", later.id),
            &bob.token,
            json!({ "username": "carol" }),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let carols = room_of(c.until("room", is_room).await);
    assert_eq!((carols.id, carols.member_count), (later.id, 2));
    Ok(())
}
