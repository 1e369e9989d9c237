//! Read markers: where each member has read up to in each room, kept on the server so that
//! every device of theirs agrees.
//!
//! A marker only moves forward. Moving it is cheap under load: markers queue to one thread,
//! which takes whatever is queued, keeps the latest per membership, writes them all in one
//! transaction and only then answers the callers and tells every socket of each user, on
//! every node, with a `read` frame. A client that marks each message it shows costs one
//! commit per batch, not one per frame.

use crate::db::{self, Database, rooms};
use crate::error::{ApiError, ApiResult};
use crate::realtime::Hub;
use natter_shared::{ErrorKind, MessageId, ReadMarker, RoomId, UserId};
use std::collections::HashMap;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most markers one transaction writes.
const MAX_BATCH: usize = 1024;

struct Mark {
    user: UserId,
    room: RoomId,
    message: MessageId,
    done: oneshot::Sender<ApiResult<MessageId>>,
}

/// The handle the server holds; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Markers {
    tx: mpsc::Sender<Mark>,
}

impl Markers {
    pub fn spawn(db: Database, hub: Hub) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("read-markers".into())
            .spawn(move || run(&db, &hub, &rx))?;
        Ok(Self { tx })
    }

    /// Moves `user`'s marker of `room` forward to `message` (checked before: a member, a
    /// message of the room). Answers, once it is stored, where the marker is now: `message`,
    /// or a later one it had already reached.
    async fn advance(
        &self,
        user: UserId,
        room: RoomId,
        message: MessageId,
    ) -> ApiResult<MessageId> {
        let (done, answer) = oneshot::channel();
        let mark = Mark {
            user,
            room,
            message,
            done,
        };
        if self.tx.send(mark).is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> ApiError {
    ApiError::unavailable(anyhow::anyhow!("the read marker thread stopped"))
}

/// `user` read `room` up to `message`: REST and WebSocket both come here. 404 for a room they
/// may not see or a message not in it; 403 `not_member` for a public room they have not
/// joined (no membership, no marker).
pub async fn mark(
    state: &crate::AppState,
    user: UserId,
    room: RoomId,
    message: MessageId,
) -> ApiResult<ReadMarker> {
    state
        .db
        .run(
            move |conn| match rooms::read_target(conn, room, user, message)? {
                Some(true) => Ok(()),
                Some(false) => Err(ApiError::not_found(format!(
                    "message {message} in room {room}"
                ))),
                None if rooms::can_see(conn, room, user)? => Err(ApiError::new(
                    ErrorKind::NotMember,
                    format!("join room {room} to keep a read marker there"),
                )),
                None => Err(ApiError::not_found(format!("room {room}"))),
            },
        )
        .await?;
    let now = state.markers.advance(user, room, message).await?;
    Ok(ReadMarker {
        room_id: room,
        message_id: now,
    })
}

/// The latest marker asked for each membership, and who waits for it.
type Batch = HashMap<(UserId, RoomId), (MessageId, Vec<oneshot::Sender<ApiResult<MessageId>>>)>;

fn run(db: &Database, hub: &Hub, rx: &mpsc::Receiver<Mark>) {
    while let Ok(first) = rx.recv() {
        let mut batch = Batch::new();
        let mut taken = 0;
        let mut next = Some(first);
        while let Some(mark) = next {
            let entry = batch
                .entry((mark.user, mark.room))
                .or_insert((mark.message, Vec::new()));
            entry.0 = entry.0.max(mark.message);
            entry.1.push(mark.done);
            taken += 1;
            next = if taken < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        write(db, hub, batch);
    }
}

fn write(db: &Database, hub: &Hub, batch: Batch) {
    let wanted: Vec<((UserId, RoomId), MessageId)> =
        batch.iter().map(|(key, (id, _))| (*key, *id)).collect();
    let stored = db.run_blocking(|conn| {
        db::write_transaction(conn, |conn| {
            let mut now = Vec::with_capacity(wanted.len());
            for ((user, room), id) in &wanted {
                let moved = rooms::advance_marker(conn, *room, *user, *id)?;
                let at = if moved {
                    id.0
                } else {
                    rooms::marker(conn, *room, *user)?.unwrap_or(id.0)
                };
                now.push(((*user, *room), MessageId(at), moved));
            }
            Ok::<_, ApiError>(now)
        })
    });
    let mut batch = batch;
    match stored {
        Ok(now) => {
            for (key @ (user, room), at, moved) in now {
                if moved {
                    hub.lists().marker_moved(user, room, at.0);
                    hub.read_marker(user, room, at);
                }
                for done in batch.remove(&key).map(|(_, w)| w).unwrap_or_default() {
                    let _ = done.send(Ok(at));
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, markers = batch.len(), "read markers could not be stored");
            for (_, (_, waiting)) in batch {
                for done in waiting {
                    let _ = done.send(Err(ApiError::unavailable(anyhow::anyhow!(
                        "read markers could not be stored"
                    ))));
                }
            }
        }
    }
}
