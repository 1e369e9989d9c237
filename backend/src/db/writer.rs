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
//!
//! The writer and the tail poller each hold a connection of their own ([`Lasting`]): one that
//! breaks (a Postgres restart, a killed backend) is opened again with backoff. Messages queued
//! meanwhile wait up to [`WAIT_FOR_DATABASE`], then are refused until it is back. What the
//! threads find is kept in [`Readiness`], which `/readyz` reports.

use super::messages::{self, NewMessageRow};
use super::{Connector, DbConnection};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::telemetry::Throttled;
use chrono::{SubsecRound, Utc};
use diesel::Connection;
use natter_shared::{ErrorKind, Message, MessageId, MessageKind, RoomId, UserId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The most messages one commit takes.
pub const MAX_BATCH: usize = 512;
/// How many messages may wait for the writer before senders wait too.
const QUEUE: usize = 8 * MAX_BATCH;
/// How long messages wait for a lost database connection to come back before they are
/// refused with `storage_unavailable` (and every later one too, until it is back).
pub const WAIT_FOR_DATABASE: Duration = Duration::from_secs(5);
/// The longest pause between two attempts to reconnect: sends resume within this of the
/// database taking connections again.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// While messages cannot be stored, how often an idle writer tries a write of its own.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often a repeated failure is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A message to store, already checked: the author may post in the room, the body is valid.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub author_id: UserId,
    pub author: String,
    pub kind: MessageKind,
    pub body: String,
    pub client_id: Option<String>,
    /// The message of the same room it answers, as replies show it (checked before).
    /// Boxed: most messages answer none, and this one travels through queues by value.
    pub reply_to: Option<Box<natter_shared::ReplyTo>>,
    /// The author's uploads it carries, checked before (unsent, theirs); taken in the
    /// message's own transaction, which fails if another message took one meanwhile.
    pub attachments: Vec<natter_shared::Attachment>,
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

impl Job {
    fn refuse(self, why: &str) {
        let _ = self
            .reply
            .send(Err(ApiError::unavailable(anyhow::anyhow!("{why}"))));
    }
}

/// What storage hands each committed message to. Storage owns this interface and knows
/// nothing of sockets: delivery (`realtime::Hub`) implements it, and a process without
/// sockets (`natter worker`) only tells the other nodes, or nobody ([`Nowhere`]).
pub trait Publish: Send + Sync + 'static {
    /// A committed message for its room: called in id order, once per message, on the
    /// writer's or the tail poller's thread, before the sender of the message is answered.
    fn publish(&self, message: &Message);

    /// This process committed `messages` (in id order) right after message `prev`: for the
    /// other nodes, which publish them in turn.
    fn announce(&self, prev: i64, messages: &[&Message]);

    /// Delivery starts after message `published` (the newest committed when the process
    /// started): every later message comes through [`Publish::publish`]. Called once, before
    /// the first of them.
    fn starting(&self, _published: i64) {}
}

/// For a process that delivers nothing and has no other nodes to tell.
pub struct Nowhere;

impl Publish for Nowhere {
    fn publish(&self, _: &Message) {}
    fn announce(&self, _: i64, _: &[&Message]) {}
}

/// The handle async code holds; cloning it is cheap. The thread ends when every handle is gone.
#[derive(Clone)]
pub struct MessageWriter {
    tx: mpsc::Sender<Job>,
    feed: Feed,
    readiness: Arc<Readiness>,
    /// Set when the server stops: no connection is opened again after that.
    closing: Arc<AtomicBool>,
}

/// Why messages cannot be stored or delivered now, as the writer and the tail poller last
/// found: what `/readyz` reports. Each is cleared by the next success.
#[derive(Debug, Default)]
pub struct Readiness {
    writer: Mutex<Option<String>>,
    tail: Mutex<Option<String>>,
}

impl Readiness {
    /// Every current reason, empty when messages can be stored and delivered.
    pub fn problems(&self) -> Vec<String> {
        [&self.writer, &self.tail]
            .into_iter()
            .filter_map(|m| m.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    fn writer_ok(&self) -> bool {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Records the writer's state; true when it changed from failing to working.
    fn set_writer(&self, problem: Option<String>) -> bool {
        Self::set(&self.writer, problem)
    }

    fn set_tail(&self, problem: Option<String>) -> bool {
        Self::set(&self.tail, problem)
    }

    fn set(slot: &Mutex<Option<String>>, problem: Option<String>) -> bool {
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let recovered = slot.is_some() && problem.is_none();
        *slot = problem;
        recovered
    }
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
    /// Starts the writer thread. Each fresh message goes to `out` after its commit, in id
    /// order, before its sender hears back; stored messages are counted in `metrics`. With
    /// `poll`, a second thread also looks that often for messages other processes stored.
    /// Fails when the database cannot be opened now; once running, each thread opens its
    /// connection again whenever it breaks.
    pub fn spawn(
        connect: Connector,
        guard: super::FileGuard,
        out: Arc<dyn Publish>,
        metrics: Arc<Metrics>,
        poll: Option<(Connector, Duration)>,
    ) -> anyhow::Result<Self> {
        let mut conn = connect()?;
        let published = messages::max_id(&mut conn)?;
        out.starting(published);
        let tail = Arc::new(Tail {
            out,
            metrics,
            published: Mutex::new(published),
        });
        let readiness = Arc::new(Readiness::default());
        let closing = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            db: Lasting::new("message writer", connect, Some(conn), closing.clone()),
            tail: tail.clone(),
            guard,
            readiness: readiness.clone(),
            failures: Throttled::new(LOG_EVERY),
        };
        std::thread::Builder::new()
            .name("message-writer".into())
            .spawn(move || writer.run(rx))?;
        let mut feed = Feed {
            tail: Arc::downgrade(&tail),
            poll: None,
        };
        if let Some((poll_connect, every)) = poll {
            let (wake, woken) = std::sync::mpsc::sync_channel(1);
            feed.poll = Some(wake);
            let db = Lasting::new("tail poller", poll_connect, None, closing.clone());
            let tail = Arc::downgrade(&tail);
            let readiness = readiness.clone();
            std::thread::Builder::new()
                .name("message-tail".into())
                .spawn(move || poll_others(db, tail, every, woken, &readiness))?;
        }
        Ok(Self {
            tx,
            feed,
            readiness,
            closing,
        })
    }

    /// The server is stopping: from now on neither thread opens a connection again (the
    /// tail poller stops; the writer stores what it can on the connection it has). A process
    /// that exits while a thread is connecting could race the TLS library's exit handlers.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.feed.poll_now();
    }

    /// Why messages cannot be stored or delivered now; empty when they can.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.readiness.problems();
        if self.tx.is_closed() {
            problems.push("the message writer has stopped".into());
        }
        problems
    }

    /// Where other nodes' messages come in.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
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
            Err(mpsc::error::TrySendError::Full(job)) => Err(Queued::Full(Box::new(job.message))),
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
    Full(Box<NewMessage>),
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
    out: Arc<dyn Publish>,
    metrics: Arc<Metrics>,
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
        self.metrics.messages_stored.inc_by(fresh.len() as u64);
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
                self.out.publish(message);
                *published = message.id.0;
            }
        }
        drop(published);
        self.out.announce(prev, fresh);
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
                self.out.publish(message);
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
            self.out.publish(message);
            *published = message.id.0;
        }
    }
}

/// A long-lived connection of one thread, opened again after it breaks.
struct Lasting {
    what: &'static str,
    connect: Connector,
    conn: Option<DbConnection>,
    /// When the connection was found broken, while it is not back.
    lost_at: Option<Instant>,
    backoff: Duration,
    closing: Arc<AtomicBool>,
}

impl Lasting {
    fn new(
        what: &'static str,
        connect: Connector,
        conn: Option<DbConnection>,
        closing: Arc<AtomicBool>,
    ) -> Self {
        Self {
            what,
            connect,
            conn,
            lost_at: None,
            backoff: Duration::ZERO,
            closing,
        }
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// The connection, opened if there is none. On failure, the reason, for `/readyz`.
    fn get(&mut self) -> Result<&mut DbConnection, String> {
        if self.conn.is_none() {
            if self.closing() {
                return Err(format!("the {} stopped: the server is stopping", self.what));
            }
            match (self.connect)() {
                Ok(conn) => {
                    if let Some(at) = self.lost_at.take() {
                        tracing::info!(
                            thread = self.what,
                            after_ms = at.elapsed().as_millis() as u64,
                            "reconnected to the database"
                        );
                    }
                    self.backoff = Duration::ZERO;
                    self.conn = Some(conn);
                }
                Err(e) => {
                    self.lost_at.get_or_insert_with(Instant::now);
                    self.backoff = (self.backoff * 2).clamp(Duration::from_millis(50), MAX_BACKOFF);
                    return Err(format!(
                        "the {} cannot reach the database: {e:#}",
                        self.what
                    ));
                }
            }
        }
        self.conn
            .as_mut()
            .ok_or_else(|| format!("the {} has no connection", self.what))
    }

    /// After a failure: drops the connection if it is beyond use, to open another. True if
    /// it was dropped.
    fn check(&mut self) -> bool {
        let lost = self.conn.as_mut().is_some_and(super::is_lost);
        if lost {
            tracing::warn!(
                thread = self.what,
                "lost the database connection: reconnecting"
            );
            self.conn = None;
            self.lost_at = Some(Instant::now());
            self.backoff = Duration::ZERO;
        }
        lost
    }

    /// How long the connection has been gone, if it is.
    fn down_for(&self) -> Option<Duration> {
        self.lost_at
            .filter(|_| self.conn.is_none())
            .map(|at| at.elapsed())
    }
}

fn poll_others(
    mut db: Lasting,
    tail: Weak<Tail>,
    every: Duration,
    woken: std::sync::mpsc::Receiver<()>,
    readiness: &Readiness,
) {
    let failures = Throttled::new(LOG_EVERY);
    loop {
        let wait = every.max(db.backoff);
        if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) = woken.recv_timeout(wait) {
            break;
        }
        let Some(tail) = tail.upgrade().filter(|_| !db.closing()) else {
            break;
        };
        let outcome = db.get().and_then(|conn| {
            tail.poll(conn)
                .map_err(|e| format!("cannot read messages of other processes: {e}"))
        });
        match outcome {
            Ok(()) => {
                if readiness.set_tail(None) {
                    failures.reset();
                    tracing::info!("reading messages of other processes again");
                }
            }
            Err(problem) => {
                db.check();
                if let Some(left_out) = failures.admit() {
                    tracing::warn!(problem, left_out, "the tail poller failed");
                }
                readiness.set_tail(Some(problem));
            }
        }
    }
}

/// The writer thread's state.
struct Writer {
    db: Lasting,
    tail: Arc<Tail>,
    guard: super::FileGuard,
    readiness: Arc<Readiness>,
    failures: Throttled,
}

/// How a batch went.
enum Outcome {
    Stored,
    /// Nothing of it reached a commit: if the connection is gone, it may be tried again.
    Retry(String),
    Failed(String),
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        // Only for waiting on the queue with a timeout while messages cannot be stored.
        let timer = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let next = match (&timer, self.readiness.writer_ok()) {
                (Ok(rt), false) => {
                    match rt.block_on(async { tokio::time::timeout(PROBE_EVERY, rx.recv()).await })
                    {
                        Ok(job) => job,
                        Err(_) => {
                            self.probe();
                            continue;
                        }
                    }
                }
                _ => rx.blocking_recv(),
            };
            let Some(job) = next else { break };
            batch.push(job);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.store(&mut batch, &mut rx);
        }
        tracing::debug!("message writer stopped");
    }

    /// Stores one batch and answers each sender; waits for a lost connection (up to
    /// [`WAIT_FOR_DATABASE`]) and tries a batch that never reached its commit once more.
    fn store(&mut self, batch: &mut Vec<Job>, rx: &mut mpsc::Receiver<Job>) {
        if let Err(e) = self.guard.check() {
            return self.fail(batch, e.to_string());
        }
        for attempt in 0..2 {
            let conn = match Self::connection(&mut self.db, &self.readiness, batch, rx) {
                Ok(conn) => conn,
                Err(problem) => return self.fail(batch, problem),
            };
            match write_batch(conn, batch, &self.tail) {
                Outcome::Stored => {
                    if self.readiness.set_writer(None) {
                        self.failures.reset();
                        tracing::info!("storing messages again");
                    }
                    return;
                }
                // Nothing was stored: on a fresh connection, once more.
                Outcome::Retry(problem) => {
                    if self.db.check() && attempt == 0 {
                        continue;
                    }
                    return self.fail(batch, problem);
                }
                Outcome::Failed(problem) => {
                    self.db.check();
                    return self.fail(batch, problem);
                }
            }
        }
    }

    /// The connection, waiting for it with backoff while it is gone; once it has been gone
    /// longer than [`WAIT_FOR_DATABASE`], the reason at once.
    fn connection<'a>(
        db: &'a mut Lasting,
        readiness: &Readiness,
        batch: &mut Vec<Job>,
        rx: &mut mpsc::Receiver<Job>,
    ) -> Result<&'a mut DbConnection, String> {
        loop {
            if db.conn.is_some() {
                break;
            }
            match db.get() {
                Ok(_) => break,
                Err(problem) => {
                    readiness.set_writer(Some(problem.clone()));
                    if db.down_for().is_none_or(|d| d >= WAIT_FOR_DATABASE) {
                        // Refuse what is queued too: its senders would only wait longer.
                        while let Ok(job) = rx.try_recv() {
                            job.refuse(&problem);
                        }
                        return Err(problem);
                    }
                    std::thread::sleep(db.backoff);
                    // Messages that came meanwhile wait with these, up to a batch.
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                }
            }
        }
        db.get()
    }

    /// Answers every message of the batch with `storage_unavailable`, and logs the reason
    /// (at most once per [`LOG_EVERY`], with how many were left out).
    fn fail(&mut self, batch: &mut Vec<Job>, problem: String) {
        if let Some(left_out) = self.failures.admit() {
            tracing::error!(problem, size = batch.len(), left_out, "messages not stored");
        }
        self.readiness.set_writer(Some(problem.clone()));
        for job in batch.drain(..) {
            job.refuse(&problem);
        }
    }

    /// While messages cannot be stored and none come: reconnects, or writes the probe row,
    /// so that readiness comes back by itself.
    fn probe(&mut self) {
        if let Err(e) = self.guard.check() {
            self.readiness.set_writer(Some(e.to_string()));
            return;
        }
        let outcome = self.db.get().and_then(|conn| {
            super::probe_write(conn).map_err(|e| format!("the database refuses writes: {e}"))
        });
        match outcome {
            Ok(()) => {
                if self.readiness.set_writer(None) {
                    self.failures.reset();
                    tracing::info!("the database takes writes again");
                }
            }
            Err(problem) => {
                self.db.check();
                self.readiness.set_writer(Some(problem));
            }
        }
    }
}

fn write_batch(conn: &mut DbConnection, batch: &mut Vec<Job>, tail: &Tail) -> Outcome {
    let size = batch.len();
    // Set once an insert went through: a failure after it may be the commit itself, whose
    // outcome a lost connection leaves unknown. Before it, nothing of the batch is stored.
    let mut committing = false;
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
        index_fresh(conn, results.iter().flatten())?;
        // With every insert failed (the connection died under them), a commit stores nothing.
        committing = results.iter().any(Result::is_ok);
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
            let mut refused = None;
            for (job, result) in batch.drain(..).zip(results) {
                let result = result
                    .map_err(|e| store_error(e, &job.message))
                    .and_then(|stored| reused_elsewhere(stored, &job.message));
                if let Err(e) = &result
                    && e.kind == ErrorKind::StorageUnavailable
                {
                    refused.get_or_insert_with(|| format!("a message could not be stored: {e}"));
                }
                let _ = job.reply.send(result);
            }
            match refused {
                // The commit went through, but an insert did not (a full disk can refuse
                // one page and not the next): not ready either.
                Some(problem) => Outcome::Failed(problem),
                None => Outcome::Stored,
            }
        }
        Err(e) => {
            if super::is_lock_timeout(&e) {
                tail.metrics.write_lock_timeouts.inc();
                return Outcome::Failed(format!(
                    "the cluster's write lock was not free in time (another node holds it): {e}"
                ));
            }
            if !committing {
                return Outcome::Retry(format!("storing {size} messages failed: {e}"));
            }
            Outcome::Failed(format!("committing {size} messages failed: {e}"))
        }
    }
}

/// Adds the messages this transaction stored to SQLite's search index, in one statement
/// after all of them: FTS5 writes what it holds in memory to disk whenever a savepoint
/// opens, and each message has one, so an index kept by a trigger wrote a segment per
/// message and halved ingest. (Postgres indexes each row by trigger; nothing to do there.)
fn index_fresh<'a>(
    conn: &mut DbConnection,
    stored: impl Iterator<Item = &'a Stored>,
) -> diesel::QueryResult<()> {
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return Ok(());
    }
    let ids = stored.filter(|s| s.fresh).map(|s| s.message.id.0);
    let (first, last) = ids.fold((i64::MAX, i64::MIN), |(lo, hi), id| {
        (lo.min(id), hi.max(id))
    });
    if first > last {
        return Ok(());
    }
    // The lock is held and ids have no holes: every row in the range is one of these.
    super::search::index_range(conn, first, last)
}

fn store_one(conn: &mut DbConnection, m: &NewMessage) -> diesel::QueryResult<Stored> {
    // Microseconds, as both engines keep them: the acked message equals the stored one.
    let created_at = Utc::now().trunc_subsecs(6);
    // Whom it mentions, in the same transaction: no commit of its own.
    let (mentions, mentions_room) =
        messages::resolve_mentions(conn, m.room_id, m.author_id, &m.body)?;
    let row = NewMessageRow {
        room_id: m.room_id.0,
        author_id: m.author_id.0,
        kind: messages::kind_to_db(m.kind),
        body: &m.body,
        client_id: m.client_id.as_deref(),
        created_at: created_at.naive_utc(),
        reply_to: m.reply_to.as_ref().map(|r| r.id.0),
        mentions: messages::ids_to_db(&mentions),
        mentions_room,
    };
    if let Some(id) = messages::insert_new(conn, &row)? {
        messages::add_mentions(conn, MessageId(id), m.room_id, &mentions)?;
        if !m.attachments.is_empty() {
            let ids: Vec<_> = m.attachments.iter().map(|a| a.id).collect();
            if !super::uploads::attach(conn, m.author_id, MessageId(id), &ids)? {
                return Err(attachment_taken());
            }
        }
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
                reply_to: m.reply_to.as_deref().cloned(),
                reactions: Vec::new(),
                mentions,
                mentions_room,
                attachments: m.attachments.clone(),
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

/// A `client_id` is one message: resent to the same room it answers with that message, but
/// sent with another room it is a client's mistake, refused (the new text is not stored).
fn reused_elsewhere(stored: Stored, m: &NewMessage) -> Result<Stored, ApiError> {
    if !stored.fresh && stored.message.room_id != m.room_id {
        return Err(ApiError::new(
            ErrorKind::ClientIdReused,
            format!(
                "client_id '{}' was used for a message in another room: use a new one",
                m.client_id.as_deref().unwrap_or_default()
            ),
        ));
    }
    Ok(stored)
}

/// Why a message's insert was rolled back: one of its uploads went into another message
/// between the check and the insert.
#[derive(Debug)]
struct AttachmentTaken;

impl std::fmt::Display for AttachmentTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an attachment was taken by another message")
    }
}

impl std::error::Error for AttachmentTaken {}

fn attachment_taken() -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(Box::new(AttachmentTaken))
}

fn store_error(e: diesel::result::Error, m: &NewMessage) -> ApiError {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::QueryBuilderError(cause) if cause.is::<AttachmentTaken>() => ApiError::new(
            ErrorKind::InvalidAttachment,
            "an attachment is already in another message: upload the file again",
        ),
        // The room was deleted between the check and the insert.
        Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            ApiError::new(ErrorKind::NotFound, format!("room {} not found", m.room_id))
        }
        other => ApiError::from(other),
    }
}

/// The ordering and gap logic, on a real SQLite file, with a recorder where the rooms would
/// be: no actix, no sockets.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use crate::db::{Database, rooms, users};

    /// What storage handed on, in order.
    #[derive(Default)]
    struct Recorder {
        published: Mutex<Vec<i64>>,
        announced: Mutex<Vec<(i64, Vec<i64>)>>,
    }

    impl Publish for Recorder {
        fn publish(&self, message: &Message) {
            lock(&self.published).push(message.id.0);
        }

        fn announce(&self, prev: i64, messages: &[&Message]) {
            let ids = messages.iter().map(|m| m.id.0).collect();
            lock(&self.announced).push((prev, ids));
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    impl Recorder {
        fn published(&self) -> Vec<i64> {
            lock(&self.published).clone()
        }

        /// Waits (up to 10 s) until `n` messages were published.
        fn wait_for(&self, n: usize) -> Vec<i64> {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.published().len() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.published()
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Database,
        room: RoomId,
        user: UserId,
        out: Arc<Recorder>,
        writer: MessageWriter,
    }

    /// A database with a user and a room, and a writer (with a tail poller that polls only
    /// when woken, if `poll`).
    fn fixture(poll: bool) -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = Database::open(&DatabaseUrl::Sqlite(dir.path().join("natter.db")))
            .expect("the database opens");
        let name = natter_shared::Username::parse("alice").expect("a name");
        let (user, room) = db
            .run_blocking(|conn| {
                let user = users::create(conn, &name, "not a hash", false)?;
                let room = rooms::insert(
                    conn,
                    &rooms::NewRoom {
                        kind: "public",
                        name: Some("general"),
                        name_key: Some("general"),
                        direct_key: None,
                        topic: None,
                        created_by: None,
                        created_at: Utc::now().naive_utc(),
                    },
                )?;
                Ok((UserId(user.id), RoomId(room.id)))
            })
            .expect("a user and a room");
        let out = Arc::new(Recorder::default());
        let metrics = Arc::new(Metrics::new().expect("metrics"));
        let poll = poll.then(|| (db.connector(), Duration::from_secs(3600)));
        let writer = MessageWriter::spawn(db.connector(), db.guard(), out.clone(), metrics, poll)
            .expect("the writer starts");
        Fixture {
            _dir: dir,
            db,
            room,
            user,
            out,
            writer,
        }
    }

    impl Fixture {
        fn message(&self, body: &str) -> NewMessage {
            NewMessage {
                reply_to: None,
                attachments: Vec::new(),
                room_id: self.room,
                author_id: self.user,
                author: "alice".into(),
                kind: MessageKind::User,
                body: body.into(),
                client_id: None,
            }
        }

        /// Stores a message as another process on the same database would (another node, a
        /// `natter worker`): this writer does not see it being stored.
        fn store_elsewhere(&self, body: &str) -> Message {
            let message = self.message(body);
            self.db
                .run_blocking(move |conn| {
                    let stored = super::super::write_transaction(conn, |c| {
                        let stored = store_one(c, &message)?;
                        index_fresh(c, std::iter::once(&stored))?;
                        diesel::QueryResult::Ok(stored)
                    })?;
                    Ok(stored.message)
                })
                .expect("stored elsewhere")
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn own_messages_are_published_in_id_order_before_their_senders_hear() {
        let f = fixture(false);
        let ids = runtime().block_on(futures::future::join_all((0..50).map(|i| {
            let (writer, out, message) =
                (f.writer.clone(), f.out.clone(), f.message(&i.to_string()));
            async move {
                let stored = writer.store(message).await.expect("stored");
                let id = stored.message.id.0;
                assert!(out.published().contains(&id), "published before the answer");
                id
            }
        })));
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(f.out.published(), sorted, "each once, in id order");
        let announced: Vec<i64> = lock(&f.out.announced)
            .iter()
            .flat_map(|(prev, batch)| {
                assert_eq!(*prev, batch[0] - 1, "a batch follows the id before it");
                batch.clone()
            })
            .collect();
        assert_eq!(announced, sorted, "every batch told to the other nodes");
    }

    #[test]
    fn what_others_stored_is_published_before_a_later_batch_of_this_process() {
        let f = fixture(false);
        let elsewhere = f.store_elsewhere("from another node").id.0;
        let here = runtime()
            .block_on(f.writer.store(f.message("from here")))
            .expect("stored")
            .message
            .id
            .0;
        assert_eq!(f.out.published(), [elsewhere, here]);
    }

    #[test]
    fn a_remote_batch_that_follows_what_was_published_is_published_at_once_and_once() {
        let f = fixture(true);
        let first = f.store_elsewhere("one");
        let feed = f.writer.feed();
        feed.remote(first.id.0 - 1, std::slice::from_ref(&first));
        assert_eq!(f.out.published(), [first.id.0], "no database read needed");
        feed.remote(first.id.0 - 1, std::slice::from_ref(&first));
        assert_eq!(
            f.out.published(),
            [first.id.0],
            "a repeated notice changes nothing"
        );
    }

    #[test]
    fn a_remote_batch_after_a_gap_is_read_from_the_database_in_order() {
        let f = fixture(true);
        // The notice of the first was lost; the second's says what it follows.
        let lost = f.store_elsewhere("one");
        let second = f.store_elsewhere("two");
        f.writer
            .feed()
            .remote(lost.id.0, std::slice::from_ref(&second));
        assert_eq!(
            f.out.wait_for(2),
            [lost.id.0, second.id.0],
            "the gap is read from the database, then the batch, in order"
        );
    }
}
