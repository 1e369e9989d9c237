//! The reference server: the least a broadcast server must do, with tokio-tungstenite and no
//! auth, storage or validation. It speaks just enough of Natter's protocol (ready, join,
//! send, message, ack) for the same clients to drive it, so Natter's overhead is a ratio.

use futures::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames a slow client may fall behind before it is dropped: large enough that a burst
/// loses nobody, so the comparison is of speed alone.
const RING: usize = 65_536;

pub async fn bind(addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves until the process ends.
pub async fn serve(listener: TcpListener) {
    let (tx, _) = broadcast::channel::<Utf8Bytes>(RING);
    let ids = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(session(tcp, tx.clone(), ids.clone()));
    }
}

async fn session(tcp: TcpStream, tx: broadcast::Sender<Utf8Bytes>, ids: Arc<AtomicU64>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    if ws
        .send(Message::text(
            r#"{"type":"ready","user":{"id":0,"username":"ref","is_admin":false}}"#,
        ))
        .await
        .is_err()
    {
        return;
    }
    let mut rx: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        tokio::select! {
            frame = ws.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    match frame {
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
                match v["type"].as_str() {
                    Some("join") => {
                        rx = Some(tx.subscribe());
                        let joined = format!(r#"{{"type":"joined","room_id":{},"online":[]}}"#, v["room_id"]);
                        if ws.send(Message::text(joined)).await.is_err() { return; }
                    }
                    Some("send") => {
                        let id = ids.fetch_add(1, Ordering::Relaxed) + 1;
                        // Written in Natter's field order, as Natter's clients read it.
                        let message = format!(
                            r#"{{"type":"message","message":{{"id":{id},"room_id":{},"author":"ref","kind":"user","body":{},"created_at":"1970-01-01T00:00:00Z","client_id":{}}}}}"#,
                            v["room_id"], v["body"], v["client_id"]
                        );
                        let _ = tx.send(Utf8Bytes::from(message));
                        let ack = format!(r#"{{"type":"ack","client_id":{},"message_id":{id}}}"#, v["client_id"]);
                        if ws.feed(Message::text(ack)).await.is_err() { return; }
                    }
                    _ => {}
                }
            }
            event = async { match rx.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                match event {
                    Ok(bytes) => {
                        if ws.feed(Message::Text(bytes)).await.is_err() { return; }
                        // Take whatever else is ready, then write it all at once.
                        while let Some(Ok(more)) = rx.as_mut().map(|r| r.try_recv()) {
                            if ws.feed(Message::Text(more)).await.is_err() { return; }
                        }
                        if ws.flush().await.is_err() { return; }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}
