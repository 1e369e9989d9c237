//! The actor of one active room: who is subscribed, who is online, and the broadcast ring
//! that carries each event, serialized once, to every subscriber.

use super::hub::{Hub, SessionId};
use super::ring;
use super::{Event, EventKind, Live, SharedEvent};
use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message as ActixMessage, MessageResult,
};
use natter_shared::ws::ServerFrame;
use natter_shared::{Message, RoomId, UserId};
use std::collections::HashMap;
use std::sync::Arc;

pub struct Room {
    id: RoomId,
    hub: Hub,
    tx: ring::Sender<SharedEvent>,
    sessions: HashMap<SessionId, UserId>,
    /// Online users: name and number of subscribed sessions.
    online: HashMap<UserId, (String, usize)>,
}

impl Room {
    pub fn new(id: RoomId, hub: Hub, buffer: usize) -> Self {
        let tx = ring::channel(buffer);
        Self {
            id,
            hub,
            tx,
            sessions: HashMap::new(),
            online: HashMap::new(),
        }
    }

    fn broadcast(&self, kind: EventKind, frame: &ServerFrame) {
        match serde_json::to_string(frame) {
            // No receivers is fine: nobody is listening.
            Ok(json) => {
                let is_message = matches!(kind, EventKind::Message(_));
                let event = Arc::new(Event::fanned_out(kind, json, self.hub.frame_copies()));
                // Counted as it is sent, under the channel's lock: a reader that has the
                // message finds it counted.
                let metrics = is_message.then(|| self.hub.metrics());
                self.tx.send_counted(event, |receivers| {
                    if let Some(m) = metrics {
                        m.deliveries.inc_by(receivers as u64);
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "cannot serialize a frame"),
        }
    }

    /// Who is online here, on this node or another, by name.
    fn online_names(&self) -> Vec<String> {
        let mut online: Vec<String> = self.online.values().map(|(name, _)| name.clone()).collect();
        for (user, name) in self.hub.online_elsewhere_in(self.id) {
            if !self.online.contains_key(&user) {
                online.push(name);
            }
        }
        online.sort_by_key(|name| name.to_lowercase());
        online
    }

    fn presence(&self, user: &str, online: bool) {
        let frame = ServerFrame::Presence {
            room_id: self.id,
            user: user.to_owned(),
            online,
        };
        self.broadcast(EventKind::Presence, &frame);
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        tracing::debug!(room = %self.id, "room active");
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(room = %self.id, "room idle");
    }
}

/// A session joins: its receiver starts after the presence event it causes, and the
/// answer lists who is online, the joiner included.
#[derive(ActixMessage)]
#[rtype(result = "Subscription")]
pub struct Subscribe {
    pub session: SessionId,
    pub user: UserId,
    pub username: String,
}

pub struct Subscription {
    pub events: ring::Receiver<SharedEvent, Live>,
    pub online: Vec<String>,
}

impl Handler<Subscribe> for Room {
    type Result = MessageResult<Subscribe>;

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) -> Self::Result {
        if self.sessions.insert(msg.session, msg.user).is_none() {
            let entry = self.online.entry(msg.user).or_insert((msg.username, 0));
            entry.1 += 1;
            if entry.1 == 1 {
                let name = entry.0.clone();
                if !self.hub.presence_here(self.id, msg.user, &name, true) {
                    self.presence(&name, true);
                }
            }
        }
        MessageResult(Subscription {
            events: self.tx.subscribe_with(Event::live),
            online: self.online_names(),
        })
    }
}

/// A session leaves, or stops. The last one out stops the room.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub session: SessionId,
}

impl Handler<Unsubscribe> for Room {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Self::Context) {
        let Some(user) = self.sessions.remove(&msg.session) else {
            return;
        };
        if let Some(entry) = self.online.get_mut(&user) {
            entry.1 -= 1;
            if entry.1 == 0 {
                let name = entry.0.clone();
                self.online.remove(&user);
                if !self.hub.presence_here(self.id, user, &name, false) {
                    self.presence(&name, false);
                }
            }
        }
        if self.sessions.is_empty() {
            self.hub.remove_room(self.id, &ctx.address());
            ctx.stop();
        }
    }
}

/// A stored message, to every subscriber.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Publish(pub Message);

impl Handler<Publish> for Room {
    type Result = ();

    fn handle(&mut self, Publish(message): Publish, _: &mut Self::Context) {
        let kind = EventKind::Message(message.id);
        self.broadcast(kind, &ServerFrame::Message { message });
    }
}

/// A change to what the room shows (an edit, a deletion), for every subscriber.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Broadcast(pub ServerFrame);

impl Handler<Broadcast> for Room {
    type Result = ();

    fn handle(&mut self, Broadcast(frame): Broadcast, _: &mut Self::Context) {
        self.broadcast(EventKind::Update, &frame);
    }
}

/// Who is online here, by name.
#[derive(ActixMessage)]
#[rtype(result = "Vec<String>")]
pub struct Online;

impl Handler<Online> for Room {
    type Result = MessageResult<Online>;

    fn handle(&mut self, _: Online, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.online_names())
    }
}

/// Someone is typing; relayed, never stored.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct Typing {
    pub user: UserId,
    pub username: String,
    /// Typed on this node: tell the other nodes too.
    pub relay: bool,
}

impl Handler<Typing> for Room {
    type Result = ();

    fn handle(&mut self, msg: Typing, _: &mut Self::Context) {
        if msg.relay {
            self.hub.relay(|| super::cluster::NodeEvent::Typing {
                room: self.id,
                user: msg.user,
                name: msg.username.clone(),
            });
        }
        let frame = ServerFrame::Typing {
            room_id: self.id,
            user: msg.username,
        };
        self.broadcast(EventKind::Typing(msg.user), &frame);
    }
}

/// A user came online in this room on another node (their first session anywhere else), or
/// their last session on other nodes left. Sessions here hear of it only if the user has
/// none on this node.
#[derive(ActixMessage)]
#[rtype(result = "()")]
pub struct RemotePresence {
    pub user: UserId,
    pub name: String,
    pub online: bool,
}

impl Handler<RemotePresence> for Room {
    type Result = ();

    fn handle(&mut self, msg: RemotePresence, _: &mut Self::Context) {
        if !self.online.contains_key(&msg.user) {
            self.presence(&msg.name, msg.online);
        }
    }
}
