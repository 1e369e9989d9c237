//! A real WebSocket client for tests: typed frames in and out, every wait with a timeout.

use crate::helpers::{TestApp, TestUser};
use futures::{SinkExt, StreamExt};
use natter_shared::ws::ServerFrame;
use natter_shared::{MessageId, RoomId};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Whether `member` and `room` frames are passed on. Off by default: posting in a public
    /// room joins it, and most tests are about something else than who joined; the tests of
    /// membership turn it on with [`WsClient::with_membership`].
    pub membership: bool,
}

/// How a socket ended.
#[derive(Debug)]
pub enum Ended {
    Closed(Option<CloseFrame>),
    Broken(#[allow(dead_code, reason = "shown in failure messages")] String),
}

impl Ended {
    pub fn code(&self) -> Option<u16> {
        match self {
            Ended::Closed(Some(frame)) => Some(u16::from(frame.code)),
            _ => None,
        }
    }
}

impl TestApp {
    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://127.0.0.1:{}/ws{query}", self.port)
    }

    /// Connects with extra headers; the error is the refusal before the upgrade.
    pub async fn ws_connect(
        &self,
        query: &str,
        headers: &[(&str, &str)],
    ) -> Result<WsClient, tungstenite::Error> {
        let mut req = self.ws_url(query).into_client_request()?;
        for (name, value) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                value.parse().expect("a header value"),
            );
        }
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("the upgrade answers in time")?;
        Ok(WsClient {
            stream,
            membership: false,
        })
    }

    /// A socket authenticated as `user`, past its `ready` frame.
    pub async fn ws(&self, user: &TestUser) -> WsClient {
        WsClient::signed_in(self.port, user).await
    }
}

impl WsClient {
    /// A socket to the server on `port`, authenticated as `user`, past its `ready` frame.
    pub async fn signed_in(port: u16, user: &TestUser) -> WsClient {
        let mut req = format!("ws://127.0.0.1:{port}/ws")
            .into_client_request()
            .expect("a request");
        let auth = format!("Bearer {}", user.token);
        req.headers_mut()
            .insert("authorization", auth.parse().expect("a header value"));
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("the upgrade answers in time")
            .expect("the socket opens");
        let mut ws = WsClient {
            stream,
            membership: false,
        };
        match ws.next().await {
            ServerFrame::Ready { user: me } => assert_eq!(me, user.auth.user),
            other => panic!("expected ready, got {other:?}"),
        }
        ws
    }

    /// Like [`WsClient::signed_in`], with the token in the query as the web app sends it.
    pub async fn connect_query(port: u16, token: &str) -> WsClient {
        let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
        let (stream, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("the upgrade answers in time")
            .expect("the socket opens");
        let mut ws = WsClient {
            stream,
            membership: false,
        };
        match ws.next().await {
            ServerFrame::Ready { .. } => ws,
            other => panic!("expected ready, got {other:?}"),
        }
    }

    /// Passes `member` and `room` frames on from now on.
    pub fn with_membership(mut self) -> Self {
        self.membership = true;
        self
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_raw(Message::text(frame.to_string())).await;
    }

    pub async fn send_raw(&mut self, message: Message) {
        tokio::time::timeout(WAIT, self.stream.send(message))
            .await
            .expect("the send completes in time")
            .expect("the socket takes the frame");
    }

    /// The next data frame, or how the socket ended.
    pub async fn next_or_end(&mut self) -> Result<ServerFrame, Ended> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let item = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("a frame arrives in time");
            match item {
                Some(Ok(Message::Text(text))) => {
                    let frame: ServerFrame = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("a server frame ({e}): {text}"));
                    let about_membership =
                        matches!(frame, ServerFrame::Member { .. } | ServerFrame::Room { .. });
                    if about_membership && !self.membership {
                        continue;
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame)),
                Some(Ok(other)) if other.is_ping() || other.is_pong() => continue,
                Some(Ok(other)) => panic!("unexpected frame {other:?}"),
                Some(Err(e)) => return Err(Ended::Broken(e.to_string())),
                None => return Err(Ended::Broken("stream ended".into())),
            }
        }
    }

    pub async fn next(&mut self) -> ServerFrame {
        match self.next_or_end().await {
            Ok(frame) => frame,
            Err(end) => panic!("the socket ended: {end:?}"),
        }
    }

    /// Skips frames until one matches; returns it.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no {what} in time");
            let frame = self.next().await;
            if pred(&frame) {
                return frame;
            }
        }
    }

    /// Waits for the socket to end, skipping any frames before.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(end) = self.next_or_end().await {
                return end;
            }
        }
    }

    pub async fn join(&mut self, room: RoomId, since: Option<MessageId>) -> Vec<String> {
        let mut frame = json!({ "type": "join", "room_id": room });
        if let Some(since) = since {
            frame["since"] = json!(since);
        }
        self.send(frame).await;
        match self
            .until("joined", |f| {
                matches!(f, ServerFrame::Joined { .. } | ServerFrame::Error { .. })
            })
            .await
        {
            ServerFrame::Joined { room_id, online } => {
                assert_eq!(room_id, room);
                online
            }
            other => panic!("join refused: {other:?}"),
        }
    }

    pub async fn say(&mut self, room: RoomId, body: &str, client_id: &str) {
        self.send(json!({ "type": "send", "room_id": room, "body": body, "client_id": client_id }))
            .await;
    }

    /// Sends and waits for the ack; returns the stored id.
    pub async fn say_acked(&mut self, room: RoomId, body: &str, client_id: &str) -> MessageId {
        self.say(room, body, client_id).await;
        let cid = client_id.to_owned();
        match self
            .until("ack", |f| {
                matches!(f, ServerFrame::Ack { client_id: Some(c), .. } | ServerFrame::Error { client_id: Some(c), .. } if *c == cid)
            })
            .await
        {
            ServerFrame::Ack { message_id, .. } => message_id,
            other => panic!("send refused: {other:?}"),
        }
    }

    /// Waits for the next error frame.
    pub async fn error(&mut self) -> ServerFrame {
        self.until("error", |f| matches!(f, ServerFrame::Error { .. }))
            .await
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
