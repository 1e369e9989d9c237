//! Fan-out between nodes through Redis, when `REDIS_URL` is set.
//!
//! Every node publishes what happens on it (messages it stored, presence changes of its own
//! sessions, typing, edits, deletions, new rooms, revoked sessions) on one pub/sub channel,
//! and delivers what the others publish to its own sockets. Redis carries notices only; the
//! database stays the source of truth:
//!
//! - Messages: each notice names the id the batch follows (`prev`). A node that has published
//!   exactly up to `prev` delivers the batch from the notice; one that has missed something
//!   (a notice lost while Redis was away) reads the gap from the database instead, in id order.
//!   Every node also reads the database a few times a second, so messages arrive even with
//!   Redis down, only later.
//! - Presence: each node keeps its own online users in a Redis hash beside a heartbeat key
//!   that expires. A node that dies stops beating; the others notice within
//!   [`HEARTBEAT_TTL`] and take its users offline. A node that (re)connects reads every live
//!   node's hash, and tells the others who is online on it (they may have forgotten it
//!   while it could not beat).
//! - Everything else is best effort, as on one node: typing, edits and the like that happen
//!   while Redis is away are not replayed (history shows edits and deletions anyway).
//!
//! While Redis is away a node keeps serving its own sockets and tries again with backoff.

use super::hub::Hub;
use crate::db::writer::Feed;
use futures_util::StreamExt;
use natter_shared::ws::ServerFrame;
use natter_shared::{Message, MessageId, Room, RoomId, UserId};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// How often a node says it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// How long a node that stopped beating still counts as alive.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(5);
/// How long a node's presence hash outlives its last beat (the others delete it sooner,
/// when they notice; this is for when no node is left to notice).
const PRESENCE_TTL_MS: i64 = 2 * HEARTBEAT_TTL.as_millis() as i64;
/// The longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The most notices sent in one round trip.
const MAX_PIPELINE: usize = 256;

/// What one node tells the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum NodeEvent {
    /// Messages stored in one commit, in id order, after message `prev`.
    Messages { prev: i64, messages: Vec<Message> },
    /// A user's first session in a room joined on the sending node, or its last one left.
    Presence {
        room: RoomId,
        user: UserId,
        name: String,
        online: bool,
    },
    Typing {
        room: RoomId,
        user: UserId,
        name: String,
    },
    /// A change to what a room shows (an edit, a deletion).
    Frame { room: RoomId, frame: ServerFrame },
    /// A room was deleted: for its `members`' sessions, or everyone's when `None` (a public
    /// room; also what a node from before this field meant).
    RoomDeleted {
        room: RoomId,
        #[serde(default)]
        members: Option<Vec<UserId>>,
    },
    /// `user` is not a member of `room` any more.
    Removed { room: RoomId, user: UserId },
    /// A room that `user` (or, for none, everyone) may see now.
    RoomAdded { user: Option<UserId>, room: Room },
    /// `user`'s read marker of `room` moved to `message`.
    Read {
        user: UserId,
        room: RoomId,
        message: MessageId,
    },
    /// A user's memberships, name or token, or a room's row or members, changed: forget
    /// them in the room lists (`crate::room_lists`).
    ListsChanged {
        person: Option<UserId>,
        room: Option<RoomId>,
    },
    /// A change that touched many users at once: forget every room list.
    ListsCleared,
    /// The user's tokens were revoked: close their sockets.
    Revoked { user: UserId, reason: String },
    /// The sending node (re)connected: who is online on it now, replacing what the others
    /// knew (they may have forgotten it while it could not beat).
    NodeJoined {
        online: Vec<(RoomId, UserId, String)>,
    },
    /// The sending node stops: its users are gone from every room.
    NodeLeft,
    /// The sending node took `forgotten` for dead (its heartbeat ran out). If it is alive
    /// after all (it was stalled, not gone), it hears this and announces itself again.
    NodeForgotten { forgotten: String },
}

impl NodeEvent {
    /// Messages this process committed, in id order, right after message `prev`.
    pub fn messages(prev: i64, messages: &[&Message]) -> Self {
        Self::Messages {
            prev,
            messages: messages.iter().map(|m| (*m).clone()).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    #[serde(flatten)]
    notice: NodeEvent,
}

/// The sending end the hub holds: notices queue here and a task sends them on.
#[derive(Clone)]
pub struct Link {
    tx: mpsc::UnboundedSender<NodeEvent>,
    /// Told once the task has said goodbye (or found it could not).
    left: Arc<Notify>,
}

impl Link {
    pub fn send(&self, notice: NodeEvent) {
        // The task ends only with the process.
        let _ = self.tx.send(notice);
    }

    /// Tells the other nodes this one stops, waiting up to `patience` for it to go out, so
    /// that they take its users offline now rather than when its heartbeat runs out.
    pub async fn leave(&self, patience: Duration) {
        self.send(NodeEvent::NodeLeft);
        let _ = tokio::time::timeout(patience, self.left.notified()).await;
    }
}

/// Where this node's keys live in Redis.
struct Keys {
    node: String,
    channel: String,
    nodes: String,
    prefix: String,
}

impl Keys {
    fn heartbeat(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    fn presence(&self, node: &str) -> String {
        format!("{}:presence:{node}", self.prefix)
    }
}

fn field(room: RoomId, user: UserId) -> String {
    format!("{room}:{user}")
}

fn parse_field(field: &str) -> Option<(RoomId, UserId)> {
    let (room, user) = field.split_once(':')?;
    Some((RoomId(room.parse().ok()?), UserId(user.parse().ok()?)))
}

/// Connects this node to the others through the Redis at `url`: the hub sends through the
/// returned link from now on, and a task delivers what other nodes publish. Fails only on a
/// URL that cannot be a Redis URL; an unreachable Redis is tried again in the background.
/// Needs a running actix (tokio) runtime.
pub fn start(url: &str, prefix: &str, hub: Hub, feed: Feed) -> anyhow::Result<()> {
    let client = client(url)?;
    let node = node_id();
    let keys = Keys {
        channel: format!("{prefix}:events"),
        nodes: format!("{prefix}:nodes"),
        prefix: prefix.to_owned(),
        node: node.clone(),
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let left = Arc::new(Notify::new());
    hub.connect(Link {
        tx,
        left: left.clone(),
    });
    tracing::info!(%node, redis = %client.get_connection_info().addr(), "joining the cluster");
    actix_web::rt::spawn(async move {
        run(client, keys, hub, feed, rx).await;
        left.notify_one();
    });
    Ok(())
}

/// The way to the other nodes of a process without sockets (`natter worker`): it only
/// publishes what it stores, so that the nodes deliver it at once rather than at their next
/// poll of the database. It is no node: it has no presence, no heartbeat, and hears nothing.
pub struct Announcer {
    tx: mpsc::UnboundedSender<NodeEvent>,
}

impl Announcer {
    /// Starts publishing through the Redis at `url`. Fails only on a URL that cannot be a
    /// Redis URL; an unreachable Redis is tried again in the background, and what is stored
    /// meanwhile reaches the nodes by their poll. Needs a running tokio runtime.
    pub fn start(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = client(url)?;
        let keys = Keys {
            channel: format!("{prefix}:events"),
            nodes: format!("{prefix}:nodes"),
            prefix: prefix.to_owned(),
            node: node_id(),
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        actix_web::rt::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let sent = async {
                    let mut conn = client.get_multiplexed_async_connection().await?;
                    while let Some(first) = rx.recv().await {
                        let mut pipe = redis::pipe();
                        publish(&mut pipe, &keys, first);
                        while let Ok(notice) = rx.try_recv() {
                            publish(&mut pipe, &keys, notice);
                        }
                        pipe.query_async::<()>(&mut conn).await?;
                    }
                    Ok::<_, redis::RedisError>(())
                };
                match sent.await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "Redis is unreachable; the nodes will read what this process stores from the database");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        // Notices made meanwhile are dropped: the nodes' polls read them.
                        while rx.try_recv().is_ok() {}
                    }
                }
            }
        });
        Ok(Self { tx })
    }
}

impl crate::db::writer::Publish for Announcer {
    fn publish(&self, _: &Message) {}

    fn announce(&self, prev: i64, messages: &[&Message]) {
        let _ = self.tx.send(NodeEvent::messages(prev, messages));
    }
}

/// A Redis client for `url`, whose connections send small notices at once (`TCP_NODELAY`).
fn client(url: &str) -> anyhow::Result<redis::Client> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .map_err(|e| anyhow::anyhow!("REDIS_URL '{url}' is not a Redis URL: {e}"))?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info)
        .map_err(|e| anyhow::anyhow!("REDIS_URL '{url}' is not a Redis URL: {e}"))
}

/// A name for this process, new on every start.
fn node_id() -> String {
    let mut raw = [0u8; 6];
    let _ = getrandom::fill(&mut raw);
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let tag: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    match host.is_empty() {
        true => tag,
        false => format!("{host}-{tag}"),
    }
}

async fn run(
    client: redis::Client,
    keys: Keys,
    hub: Hub,
    feed: Feed,
    mut rx: mpsc::UnboundedReceiver<NodeEvent>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut connected = false;
        let outcome = session(&client, &keys, &hub, &feed, &mut rx, &mut connected).await;
        match outcome {
            Ok(()) => {
                // This node is stopping and has said so.
                return;
            }
            Err(e) => {
                if connected {
                    backoff = Duration::from_millis(100);
                }
                hub.recent().pause(true);
                hub.lists().pause(true);
                hub.metrics().redis_up.set(0);
                tracing::warn!(error = %e, retry_in = ?backoff, "Redis is unreachable; serving this node's sockets alone until it is back");
            }
        }
        // Notices made meanwhile are dropped: messages come from the database, presence
        // is rewritten whole on reconnect.
        let deadline = tokio::time::sleep(backoff);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                notice = rx.recv() => match notice {
                    Some(NodeEvent::NodeLeft) | None => return,
                    Some(_) => {}
                },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: announce this node, read the others, then relay both ways until
/// something fails (an error) or this node stops (`Ok`).
async fn session(
    client: &redis::Client,
    keys: &Keys,
    hub: &Hub,
    feed: &Feed,
    rx: &mut mpsc::UnboundedReceiver<NodeEvent>,
    connected: &mut bool,
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&keys.channel).await?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    announce(&mut conn, keys, hub).await?;
    read_others(&mut conn, keys, hub).await?;
    *connected = true;
    // Edits and deletions made elsewhere while this node could not hear them are not
    // replayed: room lists count what came before this from the database.
    hub.tallies().forget();
    hub.recent().pause(false);
    hub.lists().pause(false);
    hub.metrics().redis_up.set(1);
    tracing::info!(node = %keys.node, "connected to Redis");
    // Whatever other nodes stored while this one could not hear them.
    feed.poll_now();

    let mut incoming = pubsub.on_message();
    let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = incoming.next() => {
                let Some(msg) = msg else {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the subscription ended",
                    )));
                };
                let payload: Vec<u8> = msg.get_payload()?;
                match serde_json::from_slice::<Envelope>(&payload) {
                    Ok(Envelope { notice: NodeEvent::NodeForgotten { forgotten }, .. })
                        if forgotten == keys.node =>
                    {
                        tracing::warn!(node = %keys.node, "other nodes took this one for dead (it missed heartbeats): announcing it again");
                        announce(&mut conn, keys, hub).await?;
                    }
                    Ok(envelope) if envelope.node != keys.node => {
                        deliver(hub, feed, envelope.node, envelope.notice);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "an unreadable notice from Redis"),
                }
            }
            notice = rx.recv() => {
                let Some(first) = notice else { return Ok(()) };
                let mut batch = vec![first];
                while batch.len() < MAX_PIPELINE {
                    match rx.try_recv() {
                        Ok(notice) => batch.push(notice),
                        Err(_) => break,
                    }
                }
                // Sessions closing as the node stops may queue behind the goodbye.
                let leaving = batch.iter().any(|n| matches!(n, NodeEvent::NodeLeft));
                send(&mut conn, keys, batch).await?;
                if leaving {
                    return Ok(());
                }
            }
            _ = beat.tick() => {
                heartbeat(&mut conn, keys).await?;
                sweep(&mut conn, keys, hub).await?;
            }
        }
    }
}

/// Publishes notices in one round trip, keeping this node's presence hash in step.
async fn send(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    batch: Vec<NodeEvent>,
) -> redis::RedisResult<()> {
    let mut pipe = redis::pipe();
    let presence = keys.presence(&keys.node);
    for notice in batch {
        match &notice {
            NodeEvent::Presence {
                room,
                user,
                name,
                online: true,
            } => {
                pipe.hset(&presence, field(*room, *user), name).ignore();
                // A hash made since the last beat expires too, should this node die now.
                pipe.pexpire(&presence, PRESENCE_TTL_MS).ignore();
            }
            NodeEvent::Presence {
                room,
                user,
                online: false,
                ..
            } => {
                pipe.hdel(&presence, field(*room, *user)).ignore();
            }
            NodeEvent::NodeLeft => {
                pipe.del(&presence).ignore();
                pipe.del(keys.heartbeat(&keys.node)).ignore();
                pipe.srem(&keys.nodes, &keys.node).ignore();
            }
            _ => {}
        }
        publish(&mut pipe, keys, notice);
    }
    pipe.query_async::<()>(conn).await
}

/// Adds publishing `notice`, from this node, to `pipe`.
fn publish(pipe: &mut redis::Pipeline, keys: &Keys, notice: NodeEvent) {
    let envelope = Envelope {
        node: keys.node.clone(),
        notice,
    };
    match serde_json::to_string(&envelope) {
        Ok(json) => {
            pipe.publish(&keys.channel, json).ignore();
        }
        Err(e) => tracing::error!(error = %e, "cannot serialize a notice"),
    }
}

/// Says this node is alive and writes its presence whole (after a reconnect, Redis may have
/// lost it or kept a stale copy).
async fn announce(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    hub: &Hub,
) -> redis::RedisResult<()> {
    let presence = keys.presence(&keys.node);
    let mut pipe = redis::pipe();
    pipe.atomic().del(&presence).ignore();
    let online = hub.local_presence();
    if !online.is_empty() {
        let fields: Vec<(String, &str)> = online
            .iter()
            .map(|(room, user, name)| (field(*room, *user), name.as_str()))
            .collect();
        pipe.hset_multiple(&presence, &fields).ignore();
    }
    pipe.sadd(&keys.nodes, &keys.node).ignore();
    publish(&mut pipe, keys, NodeEvent::NodeJoined { online });
    pipe.query_async::<()>(conn).await?;
    heartbeat(conn, keys).await
}

async fn heartbeat(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
) -> redis::RedisResult<()> {
    let ttl = HEARTBEAT_TTL.as_millis() as u64;
    redis::pipe()
        .pset_ex(keys.heartbeat(&keys.node), 1, ttl)
        .ignore()
        .pexpire(keys.presence(&keys.node), PRESENCE_TTL_MS)
        .ignore()
        .query_async::<()>(conn)
        .await
}

/// Reads the presence of every live node, replacing what this node knew of them.
async fn read_others(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    hub: &Hub,
) -> redis::RedisResult<()> {
    for node in live_others(conn, keys, hub, Vec::new()).await? {
        let fields: HashMap<String, String> = conn.hgetall(keys.presence(&node)).await?;
        let online = fields
            .into_iter()
            .filter_map(|(f, name)| parse_field(&f).map(|(room, user)| (room, user, name)))
            .collect();
        hub.replace_node(&node, online);
    }
    Ok(())
}

/// Takes the users of nodes that stopped beating offline.
async fn sweep(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    hub: &Hub,
) -> redis::RedisResult<()> {
    live_others(conn, keys, hub, hub.remote_nodes())
        .await
        .map(drop)
}

/// The other nodes that still beat, among those listed in Redis and `known`; the rest are
/// forgotten on the way.
async fn live_others(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    hub: &Hub,
    known: Vec<String>,
) -> redis::RedisResult<Vec<String>> {
    let listed: Vec<String> = conn.smembers(&keys.nodes).await?;
    let mut nodes: Vec<String> = listed.into_iter().chain(known).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let mut live = Vec::new();
    for node in nodes.into_iter().filter(|n| *n != keys.node) {
        let alive: bool = conn.exists(keys.heartbeat(&node)).await?;
        if alive {
            live.push(node);
        } else {
            forget(conn, keys, hub, &node).await?;
        }
    }
    Ok(live)
}

async fn forget(
    conn: &mut redis::aio::MultiplexedConnection,
    keys: &Keys,
    hub: &Hub,
    node: &str,
) -> redis::RedisResult<()> {
    if hub.drop_node(node) {
        tracing::info!(%node, "a node stopped beating: its users are offline");
    }
    // It may have died between a commit and its notice.
    hub.lists().forget_all_here();
    let mut pipe = redis::pipe();
    pipe.del(keys.presence(node))
        .ignore()
        .srem(&keys.nodes, node)
        .ignore();
    publish(
        &mut pipe,
        keys,
        NodeEvent::NodeForgotten {
            forgotten: node.to_owned(),
        },
    );
    pipe.query_async::<()>(conn).await
}

/// Hands what another node did to this node's sockets.
fn deliver(hub: &Hub, feed: &Feed, node: String, notice: NodeEvent) {
    match notice {
        NodeEvent::Messages { prev, messages } => feed.remote(prev, &messages),
        NodeEvent::Presence {
            room,
            user,
            name,
            online,
        } => hub.remote_presence(&node, room, user, name, online),
        NodeEvent::Typing { room, user, name } => hub.typing_here(room, user, name),
        NodeEvent::Frame { room, frame } => hub.broadcast_here(room, frame),
        NodeEvent::RoomDeleted { room, members } => hub.room_deleted_here(room, members.as_deref()),
        NodeEvent::Removed { room, user } => hub.member_removed_here(room, user),
        NodeEvent::RoomAdded { user, room } => hub.announce_room_here(user, &room),
        NodeEvent::Revoked { user, reason } => hub.disconnect_user_here(user, &reason),
        NodeEvent::Read {
            user,
            room,
            message,
        } => {
            hub.lists().marker_moved(user, room, message.0);
            hub.read_marker_here(user, room, message);
        }
        NodeEvent::ListsChanged { person, room } => hub.lists().forget_here(person, room),
        NodeEvent::ListsCleared => hub.lists().forget_all_here(),
        NodeEvent::NodeJoined { online } => {
            // Changes it made while its notices could not go out were not heard here.
            hub.lists().forget_all_here();
            hub.replace_node(&node, online);
        }
        NodeEvent::NodeLeft => {
            hub.drop_node(&node);
        }
        NodeEvent::NodeForgotten { forgotten } => {
            // It may have died between a commit and its notice.
            hub.lists().forget_all_here();
            hub.drop_node(&forgotten);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let f = field(RoomId(12), UserId(345));
        assert_eq!(parse_field(&f), Some((RoomId(12), UserId(345))));
        assert_eq!(parse_field("x:1"), None);
        assert_eq!(parse_field("1"), None);
    }

    /// Every kind of notice survives the envelope: a field of a notice named like one of
    /// the envelope's would make it unreadable on the other side.
    #[test]
    fn every_notice_round_trips_with_its_node() -> serde_json::Result<()> {
        let room = RoomId(1);
        let user = UserId(2);
        let notices = [
            NodeEvent::Messages {
                prev: 1,
                messages: Vec::new(),
            },
            NodeEvent::Presence {
                room,
                user,
                name: "bob".into(),
                online: true,
            },
            NodeEvent::Typing {
                room,
                user,
                name: "bob".into(),
            },
            NodeEvent::Frame {
                room,
                frame: ServerFrame::RoomDeleted { room_id: room },
            },
            NodeEvent::RoomDeleted {
                room,
                members: Some(vec![user]),
            },
            NodeEvent::RoomAdded {
                user: Some(user),
                room: Room {
                    id: room,
                    name: "general".into(),
                    kind: natter_shared::RoomKind::Public,
                    peer: None,
                    topic: Some("all things".into()),
                    member_count: 2,
                    role: Some(natter_shared::Role::Owner),
                    ..Room::default()
                },
            },
            NodeEvent::Removed { room, user },
            NodeEvent::Read {
                user,
                room,
                message: MessageId(9),
            },
            NodeEvent::ListsChanged {
                person: Some(user),
                room: None,
            },
            NodeEvent::ListsCleared,
            NodeEvent::Revoked {
                user,
                reason: "gone".into(),
            },
            NodeEvent::NodeJoined {
                online: vec![(room, user, "bob".into())],
            },
            NodeEvent::NodeLeft,
            NodeEvent::NodeForgotten {
                forgotten: "b".into(),
            },
        ];
        for notice in notices {
            let envelope = Envelope {
                node: "a".into(),
                notice,
            };
            let json = serde_json::to_string(&envelope)?;
            let back: Envelope = serde_json::from_str(&json)?;
            assert_eq!(back.node, "a", "{json}");
            assert_eq!(serde_json::to_string(&back)?, json);
        }
        Ok(())
    }
}
