//! Faults: the real binary killed with SIGKILL in the middle of a burst.

use crate::cli::serve;
use crate::helpers::{PASSWORD, TestResult, all_history_at};
use futures::{SinkExt, StreamExt};
use natter_shared::ws::ServerFrame;
use natter_shared::{AuthResponse, MessageId, Room};
use std::collections::HashMap;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const BURST: usize = 20_000;
/// Acks seen before the server is killed.
const KILL_AFTER: usize = 300;

/// Sends the whole burst on one socket and collects acks until the socket ends or every
/// message is acked: client id -> message id. `midway` hears when KILL_AFTER are acked.
async fn burst(
    addr: &str,
    token: &str,
    room: i64,
    mut midway: Option<tokio::sync::oneshot::Sender<()>>,
) -> TestResult<HashMap<String, MessageId>> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}")).await?;
    let (mut sink, mut stream) = ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..BURST {
            let frame = serde_json::json!({
                "type": "send", "room_id": room, "body": format!("burst {i}"),
                "client_id": format!("k-{i}"),
            });
            if sink.send(WsMessage::text(frame.to_string())).await.is_err() {
                break; // the server is gone
            }
        }
    });
    let mut acked = HashMap::new();
    while acked.len() < BURST {
        match tokio::time::timeout(crate::ws_client::WAIT, stream.next()).await? {
            Some(Ok(WsMessage::Text(text))) => {
                if let Ok(ServerFrame::Ack {
                    client_id: Some(id),
                    message_id,
                }) = serde_json::from_str(&text)
                {
                    acked.insert(id, message_id);
                    if acked.len() >= KILL_AFTER
                        && let Some(tx) = midway.take()
                    {
                        let _ = tx.send(());
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    sender.abort();
    Ok(acked)
}

#[actix_web::test]
async fn a_server_killed_mid_burst_keeps_every_acked_message_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("natter.db");
    let env = [("NATTER_RATE_LIMIT", "0"), ("NATTER_READ_RATE_LIMIT", "0")];
    let mut first = serve(&db, &env)?;
    let client = reqwest::Client::new();
    let auth: AuthResponse = client
        .post(format!("http://{}/api/auth/signup", first.addr))
        .json(&serde_json::json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let room: Room = client
        .post(format!("http://{}/api/rooms", first.addr))
        .bearer_auth(&auth.token)
        .json(&serde_json::json!({ "name": "crash" }))
        .send()
        .await?
        .json()
        .await?;

    // Kill the server once the burst is well under way: some messages acked, some not.
    let addr = first.addr.clone();
    let token = auth.token.clone();
    let (midway, underway) = tokio::sync::oneshot::channel();
    let sending =
        tokio::spawn(async move { burst(&addr, &token, room.id.0, Some(midway)).await.ok() });
    tokio::time::timeout(crate::ws_client::WAIT, underway).await??;
    first.child.kill()?; // SIGKILL: no shutdown, no flush
    first.child.wait()?;
    let acked = sending.await?.unwrap_or_default();
    assert!(
        !acked.is_empty() && acked.len() < BURST,
        "the kill fell mid-burst: {} acked",
        acked.len()
    );

    // Every acked message is there, once, with the id its ack named.
    let second = serve(&db, &env)?;
    let stored = all_history_at(&format!("http://{}", second.addr), &auth.token, room.id).await?;
    let by_client: HashMap<String, MessageId> = stored
        .iter()
        .filter_map(|m| Some((m.client_id.clone()?, m.id)))
        .collect();
    assert_eq!(
        by_client.len(),
        stored.len(),
        "no client id is stored twice"
    );
    for (client_id, id) in &acked {
        assert_eq!(by_client.get(client_id), Some(id), "{client_id} was acked");
    }

    // The client resends everything with the same client ids: nothing is stored twice.
    let all_acked = burst(&second.addr, &auth.token, room.id.0, None).await?;
    assert_eq!(all_acked.len(), BURST);
    let stored = all_history_at(&format!("http://{}", second.addr), &auth.token, room.id).await?;
    assert_eq!(stored.len(), BURST);
    for (client_id, id) in &acked {
        assert_eq!(
            all_acked.get(client_id),
            Some(id),
            "a resend answers the first id"
        );
    }
    let mut second = second;
    second.child.kill()?;
    second.child.wait()?;
    Ok(())
}

/// Makes files immutable (even to root) until dropped: writes to them fail with EPERM.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(files: Vec<std::path::PathBuf>) -> std::io::Result<Self> {
        chattr("+i", &files)?;
        Ok(Self(files))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = chattr("-i", &self.0);
    }
}

fn chattr(flag: &str, files: &[std::path::PathBuf]) -> std::io::Result<()> {
    let status = std::process::Command::new("chattr")
        .arg(flag)
        .args(files)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "chattr {flag} failed: {status}"
        )))
    }
}

#[actix_web::test]
async fn a_read_only_or_vanished_database_gives_503_and_no_acks_then_recovers() -> TestResult {
    use crate::helpers::TestApp;
    use natter_shared::ErrorKind;
    use serde_json::json;

    let app = TestApp::spawn().await;
    let (alice, _bob, room) = app.two_users_in_a_room().await;
    let mut ws = app.ws(&alice).await;
    ws.join(room.id, None).await;
    let db = app.db_path();
    let files: Vec<_> = ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", db.display())))
        .filter(|p| p.exists())
        .collect();

    // Read-only: REST answers 503, a socket gets an error frame for its send and no ack,
    // and stays open.
    let frozen = Immutable::set(files)?;
    let post = |client_id: &str| {
        app.post_message(
            &alice,
            room.id,
            json!({ "body": "hello?", "client_id": client_id }),
        )
    };
    assert_eq!(post("ro-1").await.error(), ErrorKind::StorageUnavailable);
    ws.say(room.id, "hello?", "ro-2").await;
    match ws.error().await {
        ServerFrame::Error {
            code, client_id, ..
        } => {
            assert_eq!(code, ErrorKind::StorageUnavailable);
            assert_eq!(client_id.as_deref(), Some("ro-2"));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    drop(frozen);

    // Writable again: the same client ids go through, once.
    let acked = ws.say_acked(room.id, "hello?", "ro-2").await;
    assert_eq!(post("ro-1").await.status, reqwest::StatusCode::CREATED);
    let stored = app.all_history(&alice, room.id).await;
    let ids: Vec<_> = stored.iter().filter_map(|m| m.client_id.clone()).collect();
    assert_eq!(ids, ["ro-2", "ro-1"]);
    assert_eq!(stored[0].id, acked);

    // The file moved away: nothing is written to the old one, /readyz says so.
    let away = db.with_extension("away");
    std::fs::rename(&db, &away)?;
    assert_eq!(post("gone-1").await.error(), ErrorKind::StorageUnavailable);
    ws.say(room.id, "anyone?", "gone-2").await;
    assert!(matches!(ws.error().await, ServerFrame::Error { .. }));
    let ready = reqwest::get(format!("{}/readyz", app.addr)).await?;
    assert_eq!(ready.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);

    // Back in place: served again.
    std::fs::rename(&away, &db)?;
    assert_eq!(post("gone-1").await.status, reqwest::StatusCode::CREATED);
    ws.say_acked(room.id, "anyone?", "gone-2").await;
    let ready = reqwest::get(format!("{}/readyz", app.addr)).await?;
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    assert_eq!(app.all_history(&alice, room.id).await.len(), 4);
    Ok(())
}
