//! Several nodes on one Postgres and one Redis: this machine's Postgres
//! (`NATTER_TEST_POSTGRES`, by default `postgres://postgres@127.0.0.1:5432`) with a database
//! per test, and its Redis (`NATTER_TEST_REDIS`, by default `redis://127.0.0.1:6379`) with a
//! key prefix per test; or a Redis the test starts on a port of its own, to kill it.

use crate::cli::serve_with;
use crate::helpers::{POSTGRES_JWT_SECRET, TestApp, TestDb, TestResult, TestUser};
use crate::jobs::{REQUESTED, all_jobs, bot_says, notice, verified_phone, webhook};
use crate::ws_client::{WAIT, WsClient};
use natter::config::{RateLimit, SmsProviderKind};
use natter_shared::ws::ServerFrame;
use natter_shared::{Message, MessageId, Room};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};

/// One database and one Redis prefix that every node of a test shares.
struct Cluster {
    db: TestDb,
    redis: String,
    prefix: String,
    /// The upload folder every node shares (a shared volume in production).
    uploads: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Self {
        Self::on_redis(
            std::env::var("NATTER_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
    }

    fn on_redis(redis: String) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = std::env::var("NATTER_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        Self {
            db: TestDb::postgres(&server),
            redis,
            uploads: tempfile::tempdir().expect("a temporary folder"),
            prefix: format!(
                "natter-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// A node: an in-process server on the shared database and Redis.
    async fn node(&self) -> TestApp {
        self.node_with(|_| {}).await
    }

    /// Two nodes, alice signed up on the first and bob on the second, and a public room
    /// "general" that alice made.
    async fn two_nodes_and_a_room(&self) -> (TestApp, TestApp, TestUser, TestUser, Room) {
        let a = self.node().await;
        let b = self.node().await;
        let alice = a.user("alice").await;
        let bob = b.user("bob").await;
        let room = a.create_room(&alice, "general").await;
        (a, b, alice, bob, room)
    }

    /// Nodes here read the database for other nodes' messages only when Redis tells them
    /// to (or when they reconnect to it), so that what arrives came through Redis.
    async fn node_with(&self, customize: impl FnOnce(&mut natter::config::Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary folder");
        TestApp::spawn_on(self.db.shared(), dir, |s| {
            s.redis_url = Some(self.redis.clone());
            s.redis_prefix = self.prefix.clone();
            s.tail_poll_ms = 3_600_000;
            s.upload_dir = Some(self.uploads.path().to_path_buf());
            customize(s);
        })
        .await
    }

    /// A node as a process of its own (`natter serve`), to be killed.
    fn node_process(&self) -> std::io::Result<crate::cli::Served> {
        let db = match self.db.url() {
            natter::config::DatabaseUrl::Postgres(url) => url,
            natter::config::DatabaseUrl::Sqlite(_) => unreachable!("clusters run on Postgres"),
        };
        serve_with(&[
            ("DATABASE_URL", &db),
            ("NATTER_JWT_SECRET", POSTGRES_JWT_SECRET),
            ("REDIS_URL", &self.redis),
            ("NATTER_REDIS_PREFIX", &self.prefix),
        ])
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Heartbeats and presence expire by themselves; the list of nodes does not.
        if let Ok(mut conn) = redis::Client::open(self.redis.as_str())
            .and_then(|c| c.get_connection_with_timeout(std::time::Duration::from_secs(1)))
        {
            let _: redis::RedisResult<()> = redis::cmd("DEL")
                .arg(format!("{}:nodes", self.prefix))
                .query(&mut conn);
        }
    }
}

/// Every message frame until `n` have come, in the order they came.
async fn messages(ws: &mut WsClient, n: usize) -> Vec<Message> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        if let ServerFrame::Message { message } = ws.next().await {
            got.push(message);
        }
    }
    got
}

/// The next message frame, skipping presence and typing.
async fn next_message(ws: &mut WsClient) -> Message {
    messages(ws, 1).await.remove(0)
}

fn assert_rising(got: &[Message]) {
    for pair in got.windows(2) {
        assert!(
            pair[0].id < pair[1].id,
            "ids rise, each once: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
}

/// Waits for a presence frame about `user`.
async fn presence_of(ws: &mut WsClient, user: &str, online: bool) {
    ws.until(&format!("{user} online={online}"), |f| {
        matches!(f, ServerFrame::Presence { user: u, online: o, .. } if u == user && *o == online)
    })
    .await;
}

#[test]
fn nodes_that_start_together_migrate_one_at_a_time() -> TestResult {
    let cluster = Cluster::new();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = cluster.db.url();
            std::thread::spawn(move || natter::db::Database::open(&url).map(drop))
        })
        .collect();
    for start in starts {
        start.join().map_err(|_| "a start panicked")??;
    }
    Ok(())
}

#[actix_web::test]
async fn messages_sent_on_two_nodes_reach_both_in_id_order_exactly_once() -> TestResult {
    const EACH: usize = 150;
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let room = a.create_room(&alice, "general").await;
    let mut on_a = a.ws(&alice).await;
    on_a.join(room.id, None).await;
    let mut on_b = b.ws(&bob).await;
    on_b.join(room.id, None).await;

    // Both nodes write at once: their batches interleave in the database.
    for i in 0..EACH {
        on_a.say(room.id, &format!("from a {i}"), &format!("a{i}"))
            .await;
        on_b.say(room.id, &format!("from b {i}"), &format!("b{i}"))
            .await;
    }
    let seen_on_b = messages(&mut on_b, 2 * EACH).await;
    let seen_on_a = messages(&mut on_a, 2 * EACH).await;
    assert_rising(&seen_on_b);
    assert_eq!(
        seen_on_a, seen_on_b,
        "both nodes deliver the same, in the same order"
    );
    let stored = a.all_history(&alice, room.id).await;
    assert_eq!(seen_on_b, stored, "what is delivered is what is stored");

    // Nothing comes twice: the next message after all of them is the next one sent.
    let last = b.send(&bob, room.id, "the end").await;
    assert_eq!(next_message(&mut on_a).await, last);
    assert_eq!(next_message(&mut on_b).await, last);
    Ok(())
}

#[actix_web::test]
async fn a_burst_larger_than_the_room_buffer_reaches_every_reader_on_both_nodes() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node_with(|s| s.room_buffer = 32).await;
    let b = cluster.node_with(|s| s.room_buffer = 32).await;
    // Smaller than the one-node test: both nodes' Redis tasks share the test's thread with
    // every client, and the point is what arrives, not how fast.
    let catchups = crate::ws::a_burst_reaches_every_reader(&[&a, &b], 60, 25, 20).await?;
    assert!(catchups > 0.0, "sessions fell behind and caught up");
    Ok(())
}

#[actix_web::test]
async fn killed_database_connections_on_two_nodes_lose_nothing() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    crate::outages::sends_survive_killed_connections(&[&a, &b], &cluster.db).await
}

#[actix_web::test]
async fn replies_and_reactions_cross_nodes() -> TestResult {
    let cluster = Cluster::new();
    let (a, b, alice, bob, room) = cluster.two_nodes_and_a_room().await;
    let mut on_a = a.ws(&alice).await;
    on_a.join(room.id, None).await;
    let original = b.send(&bob, room.id, "a question").await;
    assert_eq!(next_message(&mut on_a).await.id, original.id);
    // A reply stored on b reaches a with its quote; a reaction made on b reaches a live.
    b.post_message(
        &bob,
        room.id,
        serde_json::json!({ "body": "and its answer", "reply_to": original.id }),
    )
    .await;
    let reply = next_message(&mut on_a).await;
    assert_eq!(reply.reply_to.map(|r| r.id), Some(original.id));
    let path = format!(
        "/api/rooms/{}/messages/{}/reactions/%F0%9F%91%8D",
        room.id, original.id
    );
    let res = b
        .request(reqwest::Method::PUT, &path, Some(&bob.token), None)
        .await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT);
    match on_a
        .until("a reaction", |f| matches!(f, ServerFrame::Reaction { .. }))
        .await
    {
        ServerFrame::Reaction {
            emoji,
            user,
            added,
            message_id,
            ..
        } => {
            assert_eq!((emoji.as_str(), user.as_str(), added), ("👍", "bob", true));
            assert_eq!(message_id, original.id);
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// Waits on `ws` for the first frame `pred` takes.
async fn frame(ws: &mut WsClient, what: &str, pred: impl Fn(&ServerFrame) -> bool) {
    ws.until(what, pred).await;
}

#[actix_web::test]
async fn history_from_memory_agrees_with_the_database_on_both_nodes() -> TestResult {
    use crate::recent::assert_pages_agree;
    let cluster = Cluster::new();
    let (a, b, alice, bob, room) = cluster.two_nodes_and_a_room().await;
    let join = format!("/api/rooms/{}/join", room.id);
    b.request(reqwest::Method::POST, &join, Some(&bob.token), None)
        .await;
    for i in 0..40 {
        match i % 2 {
            0 => a.send(&alice, room.id, &format!("from a {i}")).await,
            _ => b.send(&bob, room.id, &format!("from b {i}")).await,
        };
    }
    let mut on_a = a.ws(&alice).await;
    on_a.join(room.id, None).await;
    let mut on_b = b.ws(&bob).await;
    on_b.join(room.id, None).await;
    assert_pages_agree(&a, &alice, room.id).await;
    assert_pages_agree(&b, &bob, room.id).await;

    // Stored on a, shown on b once b has it; edited on b, shown on a once a hears of it.
    let fresh = a.send(&alice, room.id, "fresh").await;
    frame(
        &mut on_b,
        "the message",
        |f| matches!(f, ServerFrame::Message { message } if message.id == fresh.id),
    )
    .await;
    let newest = assert_pages_agree(&b, &bob, room.id).await;
    assert_eq!(newest.last().map(|m| m.id), Some(fresh.id));
    let older = b.send(&bob, room.id, "to be edited").await;
    frame(
        &mut on_a,
        "the message",
        |f| matches!(f, ServerFrame::Message { message } if message.id == older.id),
    )
    .await;
    assert_pages_agree(&a, &alice, room.id).await;
    let res = b.edit(&bob, room.id, older.id, "edited on b").await;
    assert_eq!(res.status, reqwest::StatusCode::OK, "{}", res.body);
    frame(&mut on_a, "the edit", |f| {
        matches!(f, ServerFrame::Edited { .. })
    })
    .await;
    let newest = assert_pages_agree(&a, &alice, room.id).await;
    assert!(newest.iter().any(|m| m.body == "edited on b"));

    // A reaction on b and a deletion on a, each seen on the other node.
    let path = format!(
        "/api/rooms/{}/messages/{}/reactions/%F0%9F%91%8D",
        room.id, fresh.id
    );
    let res = b
        .request(reqwest::Method::PUT, &path, Some(&bob.token), None)
        .await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT);
    frame(&mut on_a, "the reaction", |f| {
        matches!(f, ServerFrame::Reaction { .. })
    })
    .await;
    let newest = assert_pages_agree(&a, &alice, room.id).await;
    assert!(
        newest
            .iter()
            .any(|m| m.id == fresh.id && !m.reactions.is_empty())
    );
    a.delete_message(&alice, room.id, fresh.id).await;
    frame(&mut on_b, "the deletion", |f| {
        matches!(f, ServerFrame::Deleted { .. })
    })
    .await;
    let newest = assert_pages_agree(&b, &bob, room.id).await;
    assert!(!newest.iter().any(|m| m.id == fresh.id));
    Ok(())
}

#[actix_web::test]
async fn a_removal_on_one_node_cuts_the_member_off_on_the_other() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let room = a.create_private_room(&alice, "plans").await;
    // Added on a: bob's socket on b hears of the room at once.
    let mut on_b = b.ws(&bob).await.with_membership();
    let res = a.add_member(&alice, room.id, "bob").await;
    assert_eq!(res.status, reqwest::StatusCode::CREATED);
    on_b.until("room", |f| matches!(f, ServerFrame::Room { .. }))
        .await;
    on_b.join(room.id, None).await;
    on_b.say_acked(room.id, "in", "b1").await;

    // Removed on a: cut off on b at once.
    let res = a
        .request(
            reqwest::Method::DELETE,
            &format!("/api/rooms/{}/members/{}", room.id, bob.auth.user.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT);
    let frame = on_b
        .until("removed", |f| matches!(f, ServerFrame::Removed { .. }))
        .await;
    assert_eq!(frame, ServerFrame::Removed { room_id: room.id });
    on_b.say(room.id, "still in?", "b2").await;
    match on_b.error().await {
        ServerFrame::Error { code, .. } => {
            assert_eq!(code, natter_shared::ErrorKind::NotFound)
        }
        other => panic!("{other:?}"),
    }
    // Nor may he read it on b, however much is said on a.
    a.send(&alice, room.id, "bob is out").await;
    let res = b
        .get(&format!("/api/rooms/{}/messages", room.id), &bob.token)
        .await;
    assert_eq!(res.error(), natter_shared::ErrorKind::NotFound);
    Ok(())
}

#[actix_web::test]
async fn presence_and_typing_span_nodes() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let room = a.create_room(&alice, "general").await;
    let mut bob_b = b.ws(&bob).await;
    bob_b.join(room.id, None).await;

    // alice's first tab, on node A: bob on B sees her come online.
    let mut tab_a = a.ws(&alice).await;
    tab_a.join(room.id, None).await;
    presence_of(&mut bob_b, "alice", true).await;
    // Someone joining on B now sees her too.
    let mut carol_b = b.ws(&carol).await;
    let online = carol_b.join(room.id, None).await;
    assert_eq!(online, ["alice", "bob", "carol"]);

    // Typing on A shows on B.
    tab_a
        .send(json!({ "type": "typing", "room_id": room.id }))
        .await;
    bob_b
        .until(
            "alice typing",
            |f| matches!(f, ServerFrame::Typing { user, .. } if user == "alice"),
        )
        .await;

    // Her second tab, on B, then closing the first: she stays online throughout.
    let mut tab_b = b.ws(&alice).await;
    tab_b.join(room.id, None).await;
    tab_a.close().await;
    // What bob hears next is her message from the tab still open, not that she left.
    let said = b.send(&alice, room.id, "still here").await;
    let next = bob_b
        .until("a presence or message frame", |f| {
            matches!(
                f,
                ServerFrame::Presence { .. } | ServerFrame::Message { .. }
            )
        })
        .await;
    assert_eq!(next, ServerFrame::Message { message: said });

    // Closing the last tab takes her offline, on both nodes.
    let mut carol_a = a.ws(&carol).await;
    carol_a.join(room.id, None).await;
    tab_b.close().await;
    presence_of(&mut bob_b, "alice", false).await;
    presence_of(&mut carol_a, "alice", false).await;
    Ok(())
}

/// bob on an in-process node A, and alice in the same room on a `natter serve` process (to
/// kill or stop), once bob has seen her come online.
struct AliceElsewhere {
    a: TestApp,
    bob_a: WsClient,
    room: natter_shared::Room,
    alice: crate::helpers::TestUser,
    process: crate::cli::Served,
    _alice_there: WsClient,
}

async fn alice_on_a_process(cluster: &Cluster) -> TestResult<AliceElsewhere> {
    let a = cluster.node().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let room = a.create_room(&alice, "general").await;
    let mut bob_a = a.ws(&bob).await;
    bob_a.join(room.id, None).await;

    let process = cluster.node_process()?;
    let port: u16 = process
        .addr
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .parse()?;
    let mut alice_there = WsClient::signed_in(port, &alice).await;
    alice_there.join(room.id, None).await;
    presence_of(&mut bob_a, "alice", true).await;
    Ok(AliceElsewhere {
        a,
        bob_a,
        room,
        alice,
        process,
        _alice_there: alice_there,
    })
}

#[actix_web::test]
async fn a_node_that_dies_is_cleaned_up_by_the_others() -> TestResult {
    let cluster = Cluster::new();
    let mut s = alice_on_a_process(&cluster).await?;
    // No goodbye: its heartbeat stops, and node A notices.
    s.process.child.kill()?;
    s.process.child.wait()?;
    presence_of(&mut s.bob_a, "alice", false).await;
    let mut again = s.a.ws(&s.alice).await;
    let online = again.join(s.room.id, None).await;
    assert_eq!(online, ["alice", "bob"]);
    Ok(())
}

#[actix_web::test]
async fn a_stalled_node_is_taken_for_dead_then_known_again_when_it_wakes() -> TestResult {
    let cluster = Cluster::new();
    let mut s = alice_on_a_process(&cluster).await?;
    // Stopped (a long pause, not a crash): it misses its heartbeats and is forgotten...
    let pid = s.process.child.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status()?;
    presence_of(&mut s.bob_a, "alice", false).await;
    // ...and when it runs again, it hears so and tells the others who is on it.
    Command::new("kill").args(["-CONT", &pid]).status()?;
    presence_of(&mut s.bob_a, "alice", true).await;
    Ok(())
}

#[actix_web::test]
async fn a_job_is_sent_once_with_workers_on_two_nodes() -> TestResult {
    const JOBS: usize = 20;
    let mut hook = webhook(Vec::new()).await;
    let settings = |s: &mut natter::config::Settings| {
        s.sms_provider = SmsProviderKind::Webhook;
        s.sms_webhook_url = Some(hook.url.clone());
        s.sms_rate_limit = RateLimit::OFF;
        s.sms_per_recipient_per_day = 0;
        s.worker_poll_ms = 20;
    };
    let cluster = Cluster::new();
    let a = cluster.node_with(settings).await;
    let b = cluster.node_with(settings).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    verified_phone(&a, &bob, "+15551234567");
    let room = a.create_room(&alice, "general").await;
    a.send(&bob, room.id, "hi").await;
    let mut on_b = b.ws(&bob).await;
    on_b.join(room.id, None).await;
    // Queued on both nodes, so that both workers are woken.
    let mut on_a = a.ws(&alice).await;
    let mut alice_b = b.ws(&alice).await;
    on_a.join(room.id, None).await;
    alice_b.join(room.id, None).await;
    for i in 0..JOBS {
        let ws = if i % 2 == 0 { &mut on_a } else { &mut alice_b };
        ws.say(room.id, "/sms bob", &format!("s{i}")).await;
        assert_eq!(notice(ws).await, REQUESTED);
    }
    let mut sent: HashMap<i64, usize> = HashMap::new();
    for _ in 0..JOBS {
        let (job, _) = hook.call().await;
        *sent.entry(job).or_default() += 1;
    }
    for _ in 0..JOBS {
        assert_eq!(bot_says(&mut on_b).await, "An SMS has been sent to bob.");
    }
    assert_eq!(sent.len(), JOBS);
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    assert!(hook.calls.try_recv().is_err(), "no call beyond one per job");
    let jobs = all_jobs(&a);
    assert_eq!(jobs.len(), JOBS);
    assert!(jobs.iter().all(|j| j.state == "done" && j.attempts == 1));
    Ok(())
}

/// A Redis of the test's own, on a port of its own, to kill and start again.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start() -> TestResult<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut redis = Self { port, child: None };
        redis.restart()?;
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) -> TestResult {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server must be installed: {e}"))?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + WAIT;
        let client = redis::Client::open(self.url())?;
        loop {
            let pong = client
                .get_connection_with_timeout(std::time::Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return Ok(());
            }
            assert!(std::time::Instant::now() < deadline, "redis-server starts");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn kill(&mut self) -> TestResult {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Waits until the node's `/metrics` says it is (or is not) connected to Redis.
async fn redis_up(node: &TestApp, up: bool) {
    let want = f64::from(u8::from(up));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if node.metric("natter_redis_up").await == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "natter_redis_up is not {want} in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Two nodes on a Redis of the test's own, both connected to it, for tests that take it
/// away and bring it back. Fields drop in order: the nodes before their database and Redis.
struct Outage {
    a: TestApp,
    b: TestApp,
    _cluster: Cluster,
    redis: OwnRedis,
}

impl Outage {
    async fn start() -> TestResult<Self> {
        let redis = OwnRedis::start()?;
        let cluster = Cluster::on_redis(redis.url());
        let a = cluster.node().await;
        let b = cluster.node().await;
        redis_up(&a, true).await;
        redis_up(&b, true).await;
        Ok(Self {
            a,
            b,
            _cluster: cluster,
            redis,
        })
    }

    /// Kills Redis and waits until both nodes report it down.
    async fn redis_away(&mut self) -> TestResult {
        self.redis.kill()?;
        redis_up(&self.a, false).await;
        redis_up(&self.b, false).await;
        Ok(())
    }

    /// Starts Redis again and waits until both nodes report it up.
    async fn redis_back(&mut self) -> TestResult {
        self.redis.restart()?;
        redis_up(&self.a, true).await;
        redis_up(&self.b, true).await;
        Ok(())
    }
}

#[actix_web::test]
async fn losing_redis_loses_nothing_and_delivery_resumes() -> TestResult {
    let mut outage = Outage::start().await?;
    let (a, b) = (&outage.a, &outage.b);
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let room = a.create_room(&alice, "general").await;
    let mut bob_b = b.ws(&bob).await;
    bob_b.join(room.id, None).await;
    let mut carol_b = b.ws(&carol).await;
    carol_b.join(room.id, None).await;
    let m1 = a.send(&alice, room.id, "before").await;
    assert_eq!(next_message(&mut bob_b).await, m1);
    assert_eq!(next_message(&mut carol_b).await, m1);

    outage.redis_away().await?;
    let a = &outage.a;
    // Each node still serves its own sockets: alice hears her own message at once.
    let mut alice_a = a.ws(&alice).await;
    alice_a.join(room.id, Some(m1.id)).await;
    let m2 = a.send(&alice, room.id, "while redis is down").await;
    assert_eq!(next_message(&mut alice_a).await, m2);
    // carol's connection drops; alice goes on talking.
    carol_b.close().await;
    let m3 = a.send(&alice, room.id, "while carol is away").await;
    assert_eq!(next_message(&mut alice_a).await, m3);

    outage.redis_back().await?;
    let (a, b) = (&outage.a, &outage.b);
    // Node B reads what it missed from the database as it reconnects: bob, connected all
    // along, gets it in order, once.
    assert_eq!(messages(&mut bob_b, 2).await, [m2.clone(), m3.clone()]);
    // carol comes back and asks for what came after the last one she saw.
    let mut carol_b = b.ws(&carol).await;
    carol_b.join(room.id, Some(m1.id)).await;
    assert_eq!(messages(&mut carol_b, 2).await, [m2.clone(), m3.clone()]);
    // And live delivery through Redis resumes.
    let m4 = a.send(&alice, room.id, "after").await;
    assert_eq!(next_message(&mut bob_b).await, m4);
    assert_eq!(next_message(&mut carol_b).await, m4);
    let ids: HashSet<MessageId> = [m1.id, m2.id, m3.id, m4.id].into();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        a.all_history(&alice, room.id).await,
        [m1, m2, m3, m4],
        "stored once each"
    );
    Ok(())
}

#[actix_web::test]
async fn while_redis_is_away_history_comes_from_the_database() -> TestResult {
    let mut outage = Outage::start().await?;
    let (a, b) = (&outage.a, &outage.b);
    let alice = a.user("alice").await;
    let room = a.create_room(&alice, "general").await;
    let first = a.send(&alice, room.id, "as first written").await;
    // b keeps the room's newest page, and alice's room list.
    crate::recent::assert_pages_agree(b, &alice, room.id).await;
    crate::reads::listed(b, &alice, room.id).await;

    outage.redis_away().await?;
    let (a, b) = (&outage.a, &outage.b);
    // An edit on a that b cannot hear of: b reads the page from the database, not memory.
    let res = a.edit(&alice, room.id, first.id, "edited while away").await;
    assert_eq!(res.status, reqwest::StatusCode::OK, "{}", res.body);
    let page = b.history(&alice, room.id, "").await;
    assert_eq!(
        page.last().map(|m| m.body.as_str()),
        Some("edited while away")
    );
    // So does the list: a topic set on a shows on b at once.
    let topic = serde_json::json!({ "topic": "set while away" });
    let path = format!("/api/rooms/{}", room.id);
    let res = a
        .request(
            reqwest::Method::PATCH,
            &path,
            Some(&alice.token),
            Some(&topic),
        )
        .await;
    assert_eq!(res.status, reqwest::StatusCode::OK, "{}", res.body);
    let listed = crate::reads::listed(b, &alice, room.id).await;
    assert_eq!(listed.topic.as_deref(), Some("set while away"));

    outage.redis_back().await?;
    let b = &outage.b;
    let newest = crate::recent::assert_pages_agree(b, &alice, room.id).await;
    assert_eq!(
        newest.last().map(|m| m.body.as_str()),
        Some("edited while away")
    );
    Ok(())
}

/// nginx with the `scale` profile's own configuration (deploy/nginx.conf), its two
/// upstream nodes pointed at `ports` and listening on a port of its own.
struct Nginx {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(ports: [u16; 2]) -> TestResult<Self> {
        let conf =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx.conf"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = tempfile::tempdir()?;
        let replaced = [
            (
                "server natter-a:8080",
                format!("server 127.0.0.1:{}", ports[0]),
            ),
            (
                "server natter-b:8080",
                format!("server 127.0.0.1:{}", ports[1]),
            ),
            ("listen 80;", format!("listen 127.0.0.1:{port};")),
            (
                "pid /tmp/natter-nginx.pid;",
                format!("pid {}/nginx.pid;", dir.path().display()),
            ),
            (
                "access_log /var/log/nginx/access.log natter;",
                format!(
                    "access_log {} natter;",
                    dir.path().join("access.log").display()
                ),
            ),
        ];
        let mut conf = conf;
        for (from, to) in replaced {
            assert!(conf.contains(from), "deploy/nginx.conf has '{from}'");
            conf = conf.replace(from, &to);
        }
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf)?;
        let nginx = ["nginx", "/usr/sbin/nginx"]
            .into_iter()
            .find(|n| Command::new(n).arg("-v").output().is_ok())
            .ok_or("nginx must be installed (scripts/setup installs it)")?;
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off; error_log stderr;"])
            .stdout(Stdio::null())
            .spawn()?;
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "nginx starts");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(Self { port, child, dir })
    }

    /// What nginx wrote to its access log so far.
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its workers (SIGKILL would orphan them).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn the_load_balancer_spreads_sockets_over_both_nodes_and_they_talk() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let lb = Nginx::start([a.port, b.port])?;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let room = a.create_room(&alice, "general").await;

    // Through the balancer: REST, and WebSocket upgrades. `least_conn` puts the second
    // socket on the node without one.
    let via_lb = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/api/rooms", lb.port))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(via_lb.status(), 200);
    let mut alice_ws = WsClient::signed_in(lb.port, &alice).await;
    alice_ws.join(room.id, None).await;
    let mut bob_ws = WsClient::signed_in(lb.port, &bob).await;
    bob_ws.join(room.id, None).await;
    assert_eq!(a.stopper.sessions() + b.stopper.sessions(), 2);
    assert_eq!(a.stopper.sessions(), 1, "one socket on each node");

    let id = alice_ws.say_acked(room.id, "through nginx", "n1").await;
    let seen = next_message(&mut bob_ws).await;
    assert_eq!((seen.id, seen.body.as_str()), (id, "through nginx"));

    // The web app's way in, the token in the query: nginx logs the path, not the token.
    let mut by_query = WsClient::connect_query(lb.port, &alice.token).await;
    by_query.join(room.id, None).await;
    drop(by_query);
    let deadline = std::time::Instant::now() + WAIT;
    while !lb.access_log().contains("GET /ws") {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx logged the socket"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let log = lb.access_log();
    assert!(
        !log.contains(&alice.token),
        "the access log holds a token: {log}"
    );
    assert!(!log.contains("token="), "{log}");
    Ok(())
}

#[actix_web::test]
async fn a_read_on_one_node_clears_the_count_seen_through_the_other() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let dm: natter_shared::Room = a.open_dm(&alice, "bob").await.json()?;
    let gone = a.send(&alice, dm.id, "@bob soon gone").await;
    let said = a.send(&alice, dm.id, "did you see this?").await;
    // b counts what reaches it from a, as its sockets see it: a moment later.
    let on = crate::reads::Sides {
        change: &a,
        read: &b,
        patient: true,
    };
    let counts = |want| move |r: Option<&Room>| r.is_some_and(|r| (r.unread, r.mentions) == want);
    on.line(&bob, dm.id, "both counted", counts((2, 1))).await;
    let res = a.delete_message(&alice, dm.id, gone.id).await;
    assert_eq!(res.status, reqwest::StatusCode::NO_CONTENT, "{}", res.body);
    on.line(&bob, dm.id, "the deleted uncounted", counts((1, 0)))
        .await;

    // Bob's phone is on b; he reads on his laptop, through a.
    let mut phone = b.ws(&bob).await;
    let res = crate::reads::mark_read(&a, &bob, dm.id, said.id).await;
    assert_eq!(res.status, reqwest::StatusCode::OK, "{}", res.body);
    let frame = phone
        .until("read", |f| matches!(f, ServerFrame::Read { .. }))
        .await;
    assert_eq!(
        frame,
        ServerFrame::Read {
            room_id: dm.id,
            message_id: said.id
        }
    );
    let seen = crate::reads::listed(&b, &bob, dm.id).await;
    assert_eq!((seen.unread, seen.last_read_id), (0, Some(said.id)));
    Ok(())
}

#[actix_web::test]
async fn a_file_uploaded_through_one_node_is_served_by_the_other() -> TestResult {
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let (alice, bob, room) = a.two_users_in_a_room().await;
    let res = a
        .client
        .post(format!("{}/api/uploads?filename=notes.txt", a.addr))
        .bearer_auth(&alice.token)
        .body("shared folder".as_bytes().to_vec())
        .send()
        .await?;
    let file: natter_shared::Attachment = crate::helpers::answer(res).await.json()?;
    let mut watch = b.ws(&bob).await;
    watch.join(room.id, None).await;
    let res = a
        .post_message(
            &alice,
            room.id,
            json!({ "body": "", "attachments": [file.id] }),
        )
        .await;
    assert_eq!(res.status, reqwest::StatusCode::CREATED, "{}", res.body);
    // The message reaches the other node with its file, which that node serves.
    let got = next_message(&mut watch).await;
    assert_eq!(got.attachments, vec![file.clone()]);
    let res = b
        .client
        .get(format!("{}{}", b.addr, file.url))
        .bearer_auth(&bob.token)
        .send()
        .await?;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.bytes().await?.as_ref(), b"shared folder");
    Ok(())
}

/// Search reads the shared database: what one node stores, edits or deletes, the other
/// finds (or no longer finds) at once, and only for the room's members.
#[actix_web::test]
async fn what_one_node_stores_edits_or_deletes_the_other_searches() -> TestResult {
    use crate::search::found;
    let cluster = Cluster::new();
    let a = cluster.node().await;
    let b = cluster.node().await;
    let alice = a.user("alice").await;
    let bob = b.user("bob").await;
    let carol = b.user("carol").await;
    let plans = a.create_private_room(&alice, "plans").await;
    let res = a.add_member(&alice, plans.id, "bob").await;
    assert!(res.status.is_success(), "{}", res.body);

    let said = a
        .send(&alice, plans.id, "the zanzibar launch is on friday")
        .await;
    assert_eq!(found(&b, &bob, "zanzibar").await, vec![said.body.clone()]);
    assert!(
        found(&b, &carol, "zanzibar").await.is_empty(),
        "carol is no member"
    );

    let res = b
        .edit(&alice, plans.id, said.id, "the mombasa launch is on friday")
        .await;
    assert_eq!(res.status, reqwest::StatusCode::OK, "{}", res.body);
    assert!(
        found(&a, &bob, "zanzibar").await.is_empty(),
        "the old text is gone"
    );
    assert_eq!(
        found(&a, &bob, "mombasa").await,
        vec!["the mombasa launch is on friday".to_owned()]
    );

    let res = b.delete_message(&alice, plans.id, said.id).await;
    assert!(res.status.is_success(), "{}", res.body);
    assert!(found(&a, &bob, "mombasa").await.is_empty(), "deleted");
    Ok(())
}

#[actix_web::test]
async fn room_lists_kept_on_one_node_follow_changes_made_on_the_other() -> TestResult {
    use crate::reads::{Sides, room_lists_follow_every_change};
    const LISTS: &str = "natter_room_lists_from_memory_total";
    let cluster = Cluster::new();
    let (a, b) = (cluster.node().await, cluster.node().await);
    let before = b.metric(LISTS).await;
    // Every change is made through a; b reads lists and history pages, and keeps them.
    room_lists_follow_every_change(Sides {
        change: &a,
        read: &b,
        patient: true,
    })
    .await;
    assert!(
        b.metric(LISTS).await > before,
        "b answered lists from memory"
    );
    Ok(())
}
