//! The message writer: one thread with its own connection that stores messages in batches.
//!
//! SQLite takes one writer at a time, and a commit that waits for the disk costs far more than
//! an insert. So every message goes through this thread: it takes whatever is queued (up to
//! [`MAX_BATCH`]), inserts each in a savepoint of one transaction, commits once, and only then
//! answers each sender. Under load many messages share one commit; alone, a message is
//! committed at once. One writer also keeps message ids rising in commit order.
//!
//! Publishing goes through [`Tail`], which hands rooms every message in id order, whoever
//! stored it: this writer's from memory, and those of other processes on the same database
//! (a `natter worker` reporting an SMS, another node) from a notice through Redis or read
//! back from the database. Ids rise in commit order on both engines: each batch holds the
//! database's write lock ([`super::write_transaction`]) from before its first insert to its
//! commit, and notes the last id committed before it (`prev`). So a gap between what was
//! published and `prev` can only be messages already committed elsewhere, readable now.

use super::DbConnection;
use super::messages::{self, NewMessageRow};
use crate::error::ApiError;
use crate::realtime::Hub;
use chrono::{SubsecRound, Utc};
use diesel::Connection;
use natter_shared::{ErrorKind, Message, MessageId, MessageKind, RoomId, UserId};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most messages one commit takes.
pub const MAX_BATCH: usize = 512;
/// How many messages may wait for the writer before senders wait too.
const QUEUE: usize = 8 * MAX_BATCH;

/// A message to store, already checked: the author may post in the room, the body is valid.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub author_id: UserId,
    pub author: String,
    pub kind: MessageKind,
    pub body: String,
    pub client_id: Option<String>,
}

/// A stored message, and whether this call stored it (false: its client id was seen before).
#[derive(Debug, Clone)]
pub struct Stored {
    pub message: Message,
    pub fresh: bool,
}

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<Result<Stored, ApiError>>,
}

/// The handle async code holds; cloning it is cheap. The thread ends when every handle is gone.
#[derive(Clone)]
pub struct MessageWriter {
    tx: mpsc::Sender<Job>,
    feed: Feed,
}

/// Where messages stored by other nodes come in, to be published here in id order.
#[derive(Clone)]
pub struct Feed {
    tail: Weak<Tail>,
    /// Wakes the thread that reads the database for what others stored.
    poll: Option<std::sync::mpsc::SyncSender<()>>,
}

impl Feed {
    /// Another node committed `messages` right after message `prev`.
    pub fn remote(&self, prev: i64, messages: &[Message]) {
        let Some(tail) = self.tail.upgrade() else {
            return;
        };
        if !tail.remote(prev, messages) {
            self.poll_now();
        }
    }

    /// Reads what others stored now, not at the next tick.
    pub fn poll_now(&self) {
        if let Some(poll) = &self.poll {
            // A full slot means a poll is due anyway.
            let _ = poll.try_send(());
        }
    }
}

impl MessageWriter {
    /// Starts the writer thread. Each fresh message goes to `hub` after its commit, in id
    /// order, before its sender hears back. With `poll`, a second thread with `poll_conn`
    /// also looks that often for messages other processes stored.
    pub fn spawn(
        mut conn: DbConnection,
        guard: super::FileGuard,
        hub: Hub,
        poll: Option<(DbConnection, Duration)>,
    ) -> anyhow::Result<Self> {
        let tail = Arc::new(Tail {
            hub,
            published: Mutex::new(messages::max_id(&mut conn)?),
        });
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer_tail = tail.clone();
        std::thread::Builder::new()
            .name("message-writer".into())
            .spawn(move || run(conn, rx, &writer_tail, &guard))?;
        let mut feed = Feed {
            tail: Arc::downgrade(&tail),
            poll: None,
        };
        if let Some((poll_conn, every)) = poll {
            let (wake, woken) = std::sync::mpsc::sync_channel(1);
            feed.poll = Some(wake);
            let tail = Arc::downgrade(&tail);
            std::thread::Builder::new()
                .name("message-tail".into())
                .spawn(move || poll_others(poll_conn, tail, every, woken))?;
        }
        Ok(Self { tx, feed })
    }

    /// Where other nodes' messages come in.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// Whether the writer thread still takes messages.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Stores `message`; returns once it is committed.
    pub async fn store(&self, message: NewMessage) -> Result<Stored, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { message, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Queues `message` now if the queue has room; the receiver answers once it is
    /// committed. A full queue hands the message back, for [`MessageWriter::queue`].
    pub fn try_queue(&self, message: NewMessage) -> Result<Answer, Queued> {
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(Job { message, reply }) {
            Ok(()) => Ok(Answer(answer)),
            Err(mpsc::error::TrySendError::Full(job)) => Err(Queued::Full(job.message)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Queued::Stopped(stopped())),
        }
    }

    /// Queues `message`, waiting for room in the queue.
    pub async fn queue(&self, message: NewMessage) -> Result<Answer, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { message, reply })
            .await
            .map_err(|_| stopped())?;
        Ok(Answer(answer))
    }
}

/// Why [`MessageWriter::try_queue`] did not queue.
pub enum Queued {
    /// The queue is full: here is the message back.
    Full(NewMessage),
    Stopped(ApiError),
}

/// The writer's answer to one queued message.
pub struct Answer(oneshot::Receiver<Result<Stored, ApiError>>);

impl Answer {
    pub async fn stored(self) -> Result<Stored, ApiError> {
        self.0.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ApiError {
    ApiError::unavailable(anyhow::anyhow!("the message writer has stopped"))
}

/// Publishes messages to rooms in id order, once each.
struct Tail {
    hub: Hub,
    /// The highest id published.
    published: Mutex<i64>,
}

/// How many messages of other processes one read-back takes.
const TAIL_PAGE: i64 = 1000;

impl Tail {
    /// Publishes a batch this process just committed right after message `prev`, after any
    /// messages of other processes up to `prev`; then tells the other nodes.
    fn committed(&self, conn: &mut DbConnection, prev: Option<i64>, fresh: &[&Message]) {
        let Some(first) = fresh.first().map(|m| m.id.0) else {
            return;
        };
        let prev = prev.unwrap_or(first - 1);
        self.hub
            .metrics()
            .messages_stored
            .inc_by(fresh.len() as u64);
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *published < prev {
            match messages::after(
                conn,
                None,
                MessageId(*published),
                Some(MessageId(prev + 1)),
                TAIL_PAGE,
            ) {
                Ok(others) if !others.is_empty() => self.publish(&mut published, &others),
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read back messages of other processes");
                    break;
                }
            }
        }
        // The poller may have read this batch back already.
        for message in fresh {
            if message.id.0 > *published {
                self.hub.publish(message);
                *published = message.id.0;
            }
        }
        drop(published);
        self.hub
            .relay(|| crate::realtime::cluster::Notice::Messages {
                prev,
                messages: fresh.iter().map(|m| (*m).clone()).collect(),
            });
    }

    /// Publishes another node's batch, committed right after message `prev`, unless this
    /// node has missed something before it. False when the database must be read instead.
    fn remote(&self, prev: i64, batch: &[Message]) -> bool {
        let Some(last) = batch.last().map(|m| m.id.0) else {
            return true;
        };
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *published >= last {
            return true;
        }
        if *published < prev {
            return false;
        }
        for message in batch {
            if message.id.0 > *published {
                self.hub.publish(message);
                *published = message.id.0;
            }
        }
        true
    }

    /// Publishes whatever other processes committed since the last look.
    fn poll(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let others = messages::after(conn, None, MessageId(*published), None, TAIL_PAGE)?;
        self.publish(&mut published, &others);
        Ok(())
    }

    fn publish(&self, published: &mut i64, messages: &[Message]) {
        for message in messages {
            self.hub.publish(message);
            *published = message.id.0;
        }
    }
}

fn poll_others(
    mut conn: DbConnection,
    tail: Weak<Tail>,
    every: Duration,
    woken: std::sync::mpsc::Receiver<()>,
) {
    loop {
        if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = woken.recv_timeout(every) {
            break;
        }
        let Some(tail) = tail.upgrade() else { break };
        if let Err(e) = tail.poll(&mut conn) {
            tracing::warn!(error = %e, "cannot look for messages of other processes");
        }
    }
}

fn run(mut conn: DbConnection, mut rx: mpsc::Receiver<Job>, tail: &Tail, guard: &super::FileGuard) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv().map(|job| batch.push(job)).is_some() {
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match guard.check() {
            Ok(()) => write_batch(&mut conn, &mut batch, tail),
            Err(e) => {
                tracing::error!(error = %e, size = batch.len(), "not storing messages");
                let reason = e.to_string();
                for job in batch.drain(..) {
                    let cause = anyhow::anyhow!("{reason}");
                    let _ = job.reply.send(Err(ApiError::unavailable(cause)));
                }
            }
        }
    }
    tracing::debug!("message writer stopped");
}

fn write_batch(conn: &mut DbConnection, batch: &mut Vec<Job>, tail: &Tail) {
    let size = batch.len();
    let outcome = super::write_transaction(conn, |conn| {
        // The lock is held: every message below the batch is committed, none is in flight.
        // SQLite's AUTOINCREMENT ids have no holes (a rolled-back insert takes its id back),
        // so the batch follows the id before its first; a Postgres sequence leaves holes, so
        // ask. (Asking SQLite too cost 15% of ingest throughput: batches there are small.)
        let prev = match conn {
            DbConnection::Postgres(_) => Some(messages::max_id(conn)?),
            DbConnection::Sqlite(_) => None,
        };
        let results = batch
            .iter()
            .map(|job| conn.transaction(|conn| store_one(conn, &job.message)))
            .collect::<Vec<_>>();
        Ok::<_, diesel::result::Error>((prev, results))
    });
    match outcome {
        Ok((prev, results)) => {
            let fresh: Vec<&Message> = results
                .iter()
                .flatten()
                .filter(|s| s.fresh)
                .map(|s| &s.message)
                .collect();
            tail.committed(conn, prev, &fresh);
            for (job, result) in batch.drain(..).zip(results) {
                let _ = job
                    .reply
                    .send(result.map_err(|e| store_error(e, &job.message)));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, size, "committing a batch of messages failed");
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(ApiError::unavailable(anyhow::anyhow!(
                    "commit failed: {e}"
                ))));
            }
        }
    }
}

fn store_one(conn: &mut DbConnection, m: &NewMessage) -> diesel::QueryResult<Stored> {
    // Microseconds, as both engines keep them: the acked message equals the stored one.
    let created_at = Utc::now().trunc_subsecs(6);
    let row = NewMessageRow {
        room_id: m.room_id.0,
        author_id: m.author_id.0,
        kind: messages::kind_to_db(m.kind),
        body: &m.body,
        client_id: m.client_id.as_deref(),
        created_at: created_at.naive_utc(),
    };
    if let Some(id) = messages::insert_new(conn, &row)? {
        return Ok(Stored {
            message: Message {
                id: MessageId(id),
                room_id: m.room_id,
                author: m.author.clone(),
                kind: m.kind,
                body: m.body.clone(),
                created_at,
                client_id: m.client_id.clone(),
                edited_at: None,
            },
            fresh: true,
        });
    }
    // The insert only yields nothing on a repeated client id, so there is one to find.
    let client_id = m.client_id.as_deref().unwrap_or_default();
    messages::find_by_client_id(conn, m.author_id.0, client_id)?
        .map(|message| Stored {
            message,
            fresh: false,
        })
        .ok_or(diesel::result::Error::NotFound)
}

fn store_error(e: diesel::result::Error, m: &NewMessage) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        // The room was deleted between the check and the insert.
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            ApiError::new(ErrorKind::NotFound, format!("room {} not found", m.room_id))
        }
        other => ApiError::from(other),
    }
}
