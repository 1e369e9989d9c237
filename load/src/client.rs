//! Clients: accounts and rooms over REST, sockets over WebSocket from a chosen source address,
//! and the message bodies that carry their own send time.

use crate::target::{Flavor, Target, source_ip};
use anyhow::{Context, bail};
use futures::{StreamExt, stream};
use natter_shared::{AuthResponse, Room};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpSocket;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub const PASSWORD: &str = "load-test-password";

/// A name for this run, so that repeated runs on one database do not collide.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", nanos % 0xffff_ffff)
}

/// Signs up `n` users and returns their tokens (for the reference server, empty tokens).
pub async fn users(target: &Target, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
    accounts(target, "/api/auth/signup", prefix, n).await
}

/// Logs in as `n` users an earlier run signed up with `prefix`, and returns their tokens.
pub async fn log_in(target: &Target, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
    accounts(target, "/api/auth/login", prefix, n).await
}

/// Users `prefix0` to `prefix{n-1}` through `path` (signing up or logging in).
async fn accounts(
    target: &Target,
    path: &str,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    if target.flavor == Flavor::Reference {
        return Ok(vec![String::new(); n]);
    }
    let http = reqwest::Client::new();
    let url = target.http(path);
    let tokens: Vec<anyhow::Result<String>> = stream::iter(0..n)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let body = json!({ "username": format!("{prefix}{i}"), "password": PASSWORD });
                let mut res = http.post(&url).json(&body).send().await?;
                // A busy server (its password hashing saturated) says when to come back.
                while res.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                    let wait = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                        .context("503 without Retry-After")?;
                    tokio::time::sleep(std::time::Duration::from_millis(wait.min(5) * 200)).await;
                    res = http.post(&url).json(&body).send().await?;
                }
                if !res.status().is_success() {
                    bail!(
                        "{path} answered {}: {}",
                        res.status(),
                        res.text().await.unwrap_or_default()
                    );
                }
                Ok(res.json::<AuthResponse>().await?.token)
            }
        })
        .buffered(16)
        .collect()
        .await;
    tokens.into_iter().collect::<anyhow::Result<Vec<_>>>().context(
        "signing up or logging in load users failed: is the server running with NATTER_RATE_LIMIT=0 and a low NATTER_BCRYPT_COST?",
    )
}

/// Creates a public room; the reference server has one room, id 1.
pub async fn room(target: &Target, token: &str, name: &str) -> anyhow::Result<i64> {
    if target.flavor == Flavor::Reference {
        return Ok(1);
    }
    let res = reqwest::Client::new()
        .post(target.http("/api/rooms"))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("creating room {name} answered {}", res.status());
    }
    Ok(res.json::<Room>().await?.id.0)
}

/// Makes every one of `tokens` a member of public room `room` (people are in a room before
/// they talk in it; posting would join it too, on the first message).
pub async fn join_all(target: &Target, tokens: &[String], room: i64) -> anyhow::Result<()> {
    if target.flavor == Flavor::Reference {
        return Ok(());
    }
    let http = reqwest::Client::new();
    let answers: Vec<anyhow::Result<()>> = stream::iter(tokens)
        .map(|token| {
            let http = http.clone();
            async move {
                let res = http
                    .post(target.http(&format!("/api/rooms/{room}/join")))
                    .bearer_auth(token)
                    .send()
                    .await?;
                // A server from before membership has no join: its public rooms are open to
                // everyone (that is how older builds are compared with this one).
                if !res.status().is_success() && res.status() != reqwest::StatusCode::NOT_FOUND {
                    bail!(
                        "joining room {room} answered {}: is NATTER_MEMBER_RATE_LIMIT=0?",
                        res.status()
                    );
                }
                Ok(())
            }
        })
        .buffered(16)
        .collect()
        .await;
    answers.into_iter().collect()
}

/// Opens an authenticated socket from the `i`-th source address and waits for `ready`.
pub async fn connect(
    target: &Target,
    token: &str,
    i: usize,
    sources: u8,
) -> anyhow::Result<Socket> {
    let node = target.node(i);
    let socket = if node.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if node.is_ipv4() {
        socket.bind(SocketAddr::new(source_ip(i, sources), 0))?;
    }
    let tcp = socket.connect(node).await?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://{node}/ws?token={token}");
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
    let first = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .context("no ready frame in 30 s")?;
    match first {
        Some(Ok(m)) if m.to_text().is_ok_and(|t| t.contains("\"ready\"")) => Ok(ws),
        other => bail!("expected ready, got {other:?}"),
    }
}

/// Nanoseconds since the epoch: senders and receivers share this machine's clock.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The body of load message `seq` of `sender`, stamped with the send time.
pub fn body(sender: usize, seq: usize) -> String {
    format!("L {sender}:{seq}:{}", now_nanos())
}

/// What a `message` frame's body says: sender, sequence number, send time. Reads the body out
/// of the frame without parsing all of it: at millions of deliveries, the tool's own CPU is
/// taken from the server it measures.
pub fn parse_delivery(frame: &str) -> Option<(usize, usize, u64)> {
    if !frame.starts_with("{\"type\":\"message\"") {
        return None;
    }
    let start = frame.find("\"body\":\"L ")? + "\"body\":\"L ".len();
    let rest = &frame[start..];
    let end = rest.find('"')?;
    let mut parts = rest[..end].split(':');
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((sender, seq, sent))
}

/// A `send` frame of message `seq` of `sender`, saying `body`.
pub fn send_frame(room: i64, sender: usize, seq: usize, body: &str) -> String {
    json!({
        "type": "send",
        "room_id": room,
        "body": body,
        "client_id": format!("{sender}-{seq}"),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_read_back_what_was_sent() {
        let frame = format!(
            r#"{{"type":"message","message":{{"id":9,"room_id":1,"author":"a","kind":"user","body":"{}","created_at":"x","client_id":"3-4"}}}}"#,
            "L 3:4:1234"
        );
        assert_eq!(parse_delivery(&frame), Some((3, 4, 1234)));
        assert_eq!(
            parse_delivery(r#"{"type":"ack","client_id":"3-4","message_id":9}"#),
            None
        );
    }
}
