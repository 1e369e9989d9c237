//! Faults from outside the server: its database connections killed (Postgres), a full disk
//! (SQLite on a small tmpfs), the cluster's write lock held by someone else, and the ack
//! latency that Nagle's algorithm would add. Each runs on the engine it is about, whatever
//! the suite runs on.

use crate::helpers::{TestApp, TestDb, TestResult};
use crate::ws_client::{WAIT, WsClient};
use natter_shared::ws::ServerFrame;
use natter_shared::{ErrorKind, MessageId, RoomId};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Waits until `/readyz` answers `status`; returns its body.
pub async fn readiness_becomes(app: &TestApp, status: StatusCode) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (now, body) = app.readiness().await;
        if now == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {now} ({body}), not {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads a socket's answers to its sends until `wanted` client ids are acked, resending
/// each one refused with `storage_unavailable` (as a client does). Returns the acked ids.
async fn acked(
    ws: &mut WsClient,
    room: RoomId,
    mut wanted: BTreeSet<String>,
) -> BTreeMap<String, MessageId> {
    let mut acked = BTreeMap::new();
    while !wanted.is_empty() {
        match ws.next().await {
            ServerFrame::Ack {
                client_id: Some(c),
                message_id,
            } => {
                assert!(wanted.remove(&c), "one ack for {c}");
                acked.insert(c, message_id);
            }
            ServerFrame::Error {
                code: ErrorKind::StorageUnavailable,
                client_id: Some(c),
                ..
            } => ws.say(room, &format!("body {c}"), &c).await,
            ServerFrame::Error { code, message, .. } => panic!("refused: {code:?} {message}"),
            _ => {}
        }
    }
    acked
}

/// Every node's sockets send a burst; the database's connections are killed while it is
/// stored; a message sent right after is stored within a second, everything refused is
/// resent and stored, and the history holds each acked message once.
pub async fn sends_survive_killed_connections(nodes: &[&TestApp], db: &TestDb) -> TestResult {
    const BURST: usize = 100;
    let alice = nodes[0].user("alice").await;
    let room = nodes[0].create_room(&alice, "general").await;
    let mut sockets = Vec::new();
    for node in nodes {
        let mut ws = node.ws(&alice).await;
        ws.join(room.id, None).await;
        sockets.push(ws);
    }
    let mut all = BTreeSet::new();
    for (k, ws) in sockets.iter_mut().enumerate() {
        for i in 0..BURST {
            let cid = format!("{k}-{i}");
            ws.say(room.id, &format!("body {cid}"), &cid).await;
            all.insert(cid);
        }
    }
    let killed = db.kill_connections();
    let at = Instant::now();
    assert!(
        killed >= 2,
        "the writer's and the pool's connections were ended ({killed})"
    );
    let mut stored = BTreeMap::new();
    for (k, ws) in sockets.iter_mut().enumerate() {
        let cid = format!("after-{k}");
        ws.say(room.id, "right after", &cid).await;
        let burst = (0..BURST).map(|i| format!("{k}-{i}"));
        stored.extend(acked(ws, room.id, burst.chain([cid.clone()]).collect()).await);
        all.insert(cid);
        assert!(
            at.elapsed() < Duration::from_secs(1) + Duration::from_millis(500) * k as u32,
            "sends resume within a second of the kill ({:?})",
            at.elapsed()
        );
    }
    let history = nodes[0].all_history(&alice, room.id).await;
    let kept: Vec<String> = history.iter().filter_map(|m| m.client_id.clone()).collect();
    assert_eq!(kept.len(), all.len(), "each message stored once");
    assert_eq!(kept.iter().cloned().collect::<BTreeSet<_>>(), all);
    for m in &history {
        let cid = m.client_id.as_deref().unwrap_or_default();
        assert_eq!(stored.get(cid), Some(&m.id), "{cid} acked as stored");
    }
    for node in nodes {
        readiness_becomes(node, StatusCode::OK).await;
    }
    Ok(())
}

#[actix_web::test]
async fn on_postgres_the_writer_reconnects_after_its_connections_are_killed() -> TestResult {
    let db = TestDb::on_postgres();
    let app = TestApp::spawn_on(db.shared(), tempfile::tempdir()?, |_| {}).await;
    sends_survive_killed_connections(&[&app], &db).await?;
    // Again, now that the writer runs on the connection it opened itself.
    let bob = app.user("bob").await;
    db.kill_connections();
    let room = app.create_room(&bob, "again").await;
    let mut ws = app.ws(&bob).await;
    ws.join(room.id, None).await;
    ws.say(room.id, "once more", "again-1").await;
    let ids = acked(&mut ws, room.id, BTreeSet::from(["again-1".to_owned()])).await;
    assert_eq!(app.all_history(&bob, room.id).await[0].id, ids["again-1"]);
    Ok(())
}

/// A server on a fresh database of this machine's Postgres, whatever the suite runs on, and
/// a connection of the test's own to that database.
async fn on_postgres(
    customize: impl FnOnce(&mut natter::config::Settings),
) -> TestResult<(TestDb, TestApp, diesel::PgConnection)> {
    use diesel::Connection;
    let db = TestDb::on_postgres();
    let app = TestApp::spawn_on(db.shared(), tempfile::tempdir()?, customize).await;
    let natter::config::DatabaseUrl::Postgres(url) = db.url() else {
        unreachable!("on Postgres")
    };
    let conn = diesel::PgConnection::establish(&url)?;
    Ok((db, app, conn))
}

#[actix_web::test]
async fn a_write_lock_held_elsewhere_refuses_in_time_and_frees_when_released() -> TestResult {
    use diesel::{RunQueryDsl, connection::SimpleConnection};
    let (_db, app, mut other) = on_postgres(|s| s.write_lock_timeout_ms = 300).await?;
    let (alice, _, room) = app.two_users_in_a_room().await;
    // Another node, stalled inside its write transaction.
    other.batch_execute("BEGIN")?;
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(natter::db::WRITE_LOCK)
        .execute(&mut other)?;

    let asked = Instant::now();
    let refused = app
        .post_message(&alice, room.id, json!({ "body": "hi", "client_id": "l-1" }))
        .await;
    assert_eq!(refused.error(), ErrorKind::StorageUnavailable);
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "refused in bounded time, not after waiting for the lock ({:?})",
        asked.elapsed()
    );
    assert!(app.metric("natter_write_lock_timeouts_total").await >= 1.0);
    let (status, body) = app.readiness().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("write lock"), "{body}");

    other.batch_execute("COMMIT")?;
    // Nobody sends: the writer's own probe finds the lock free again.
    readiness_becomes(&app, StatusCode::OK).await;
    let stored = app
        .post_message(&alice, room.id, json!({ "body": "hi", "client_id": "l-1" }))
        .await;
    assert_eq!(stored.status, StatusCode::CREATED);
    Ok(())
}

/// A tmpfs of its own, unmounted on drop. None where this process may not mount one.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { dir })
    }

    /// Writes a file until the disk is full; removing it frees the space again.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("a filler file");
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&block[..1]);
        let _ = file.flush();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

#[actix_web::test]
async fn a_full_disk_turns_readyz_to_503_and_back_by_itself() -> TestResult {
    let Some(disk) = SmallDisk::mount(16) else {
        assert!(!is_root(), "root can mount a tmpfs for this test");
        eprintln!("skipped: mounting a small tmpfs needs root");
        return Ok(());
    };
    let db = TestDb::sqlite(disk.dir.path().join("natter.db"));
    let app = TestApp::spawn_on(db, tempfile::tempdir()?, |_| {}).await;
    let (alice, _, room) = app.two_users_in_a_room().await;
    let filler = disk.fill();

    let body = "x".repeat(4000);
    let mut refused = None;
    for i in 0..2000 {
        let cid = format!("full-{i}");
        let answer = app
            .post_message(&alice, room.id, json!({ "body": body, "client_id": cid }))
            .await;
        if answer.status != StatusCode::CREATED {
            assert_eq!(answer.error(), ErrorKind::StorageUnavailable);
            refused = Some(cid);
            break;
        }
    }
    let refused = refused.expect("a full disk refuses a message");
    let (status, reason) = app.readiness().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reason.contains("not ready"), "{reason}");

    // Space comes back; nobody sends: /readyz recovers by itself, and the message goes in.
    std::fs::remove_file(filler)?;
    readiness_becomes(&app, StatusCode::OK).await;
    let again = app
        .post_message(
            &alice,
            room.id,
            json!({ "body": body, "client_id": refused }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    drop(app);
    Ok(())
}

#[actix_web::test]
async fn an_ack_comes_back_at_once_when_sends_are_spaced_out() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, _, room) = app.two_users_in_a_room().await;
    let mut ws = app.ws(&alice).await;
    ws.join(room.id, None).await;
    // One send every 40 ms: with Nagle's algorithm on, once the client's kernel stops
    // acknowledging at once (after its first few segments), each ack frame waits for the
    // delayed ACK of the message frame before it: about 40 ms, for a third of these.
    let mut tick = tokio::time::interval(Duration::from_millis(40));
    let mut took = Vec::new();
    for i in 0..40 {
        tick.tick().await;
        let sent = Instant::now();
        ws.say_acked(room.id, "tick", &format!("t-{i}")).await;
        took.push(sent.elapsed());
    }
    took.sort();
    // Nagle's delay holds back about a third; a loaded machine may hold back a few too
    // (five of forty have been seen), so the line is drawn at three in four.
    assert!(
        took[took.len() * 3 / 4] < Duration::from_millis(30),
        "three acks in four come back well under 40 ms: {took:?}"
    );
    Ok(())
}

#[actix_web::test]
async fn a_catch_up_that_makes_no_progress_closes_the_socket_with_4008() -> TestResult {
    use diesel::RunQueryDsl;
    let (_db, app, mut admin) = on_postgres(|s| {
        s.client_timeout_ms = 1_000;
        s.heartbeat_ms = 200;
    })
    .await?;
    let (alice, _, room) = app.two_users_in_a_room().await;
    app.send(&alice, room.id, "before").await;
    // Messages cannot be read any more; rooms, users and joining still work.
    diesel::sql_query("ALTER TABLE messages RENAME TO messages_away").execute(&mut admin)?;

    let mut ws = app.ws(&alice).await;
    ws.join(room.id, Some(MessageId(0))).await;
    assert_eq!(
        ws.ended().await.code(),
        Some(natter_shared::ws::close::TOO_SLOW),
        "a catch-up without progress for a client timeout ends with 4008"
    );
    assert!(app.metric("natter_slow_sessions_dropped_total").await >= 1.0);
    diesel::sql_query("ALTER TABLE messages_away RENAME TO messages").execute(&mut admin)?;
    Ok(())
}
