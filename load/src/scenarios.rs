//! The scenarios: S1 burst fan-out, S2 paced latency, S3 idle connections, S4 history reads,
//! S5 ingest. Each returns a [`Report`].

use crate::client::{self, Socket};
use crate::report::{Latency, ProcSnapshot, Report, per_second};
use crate::target::{Flavor, Target};
use anyhow::Context;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt, stream};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long readers wait for the next delivery before they count the rest as lost.
const IDLE: Duration = Duration::from_secs(15);
/// Connections opened at once while setting up.
const CONNECT_AT_ONCE: usize = 64;

/// How the messages of a fan-out run are sent.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// Every client sends `per_client` messages back to back, all at once.
    Burst { per_client: usize },
    /// `rate` messages per second in total, for `seconds`, round robin over the clients.
    Paced { rate: u32, seconds: u32 },
}

impl Schedule {
    fn total(&self, clients: usize) -> usize {
        match *self {
            Schedule::Burst { per_client } => clients * per_client,
            Schedule::Paced { rate, seconds } => (rate as usize) * (seconds as usize),
        }
    }

    /// Who sends the `k`-th message of the run.
    fn sender_of(&self, clients: usize, k: usize) -> usize {
        match *self {
            Schedule::Burst { per_client } => k / per_client.max(1),
            Schedule::Paced { .. } => k % clients.max(1),
        }
    }

    /// The position of message `seq` of `sender` among all messages of the run.
    fn index(&self, clients: usize, sender: usize, seq: usize) -> Option<usize> {
        let i = match *self {
            Schedule::Burst { per_client } if sender < clients && seq < per_client => {
                sender * per_client + seq
            }
            Schedule::Paced { .. } if sender < clients => seq * clients + sender,
            _ => return None,
        };
        (i < self.total(clients)).then_some(i)
    }
}

#[derive(Debug, Clone)]
pub struct FanOut {
    pub clients: usize,
    pub sources: u8,
    pub schedule: Schedule,
    pub server_pid: Option<u32>,
}

/// What one receiving client saw.
#[derive(Default)]
struct Seen {
    unique: u64,
    duplicated: u64,
    acks: u64,
    latency: Latency,
    last: Option<Instant>,
    broken: bool,
    close_code: Option<u16>,
}

/// S1 and S2: `clients` sockets join one room; the schedule's messages go out; every client
/// should receive every message exactly once.
pub async fn fan_out(target: &Target, cfg: &FanOut, label: &str) -> anyhow::Result<Report> {
    let run = client::run_id();
    eprintln!("[{label}] signing up {} users", cfg.clients);
    let tokens = client::users(target, &format!("l{run}u"), cfg.clients).await?;
    let room = client::room(target, &tokens[0], &format!("load-{run}")).await?;
    client::join_all(target, &tokens, room).await?;
    eprintln!("[{label}] connecting {} clients", cfg.clients);
    let errors = Arc::new(AtomicU64::new(0));
    let sockets: Vec<Option<Socket>> = stream::iter(tokens.iter().enumerate())
        .map(|(i, token)| {
            let errors = errors.clone();
            async move {
                match join(target, token, i, cfg.sources, room).await {
                    Ok(ws) => Some(ws),
                    Err(e) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                            eprintln!("[{label}] connection {i} failed: {e:#}");
                        }
                        None
                    }
                }
            }
        })
        .buffered(CONNECT_AT_ONCE)
        .collect()
        .await;

    let total = cfg.schedule.total(cfg.clients);
    let mut outboxes = Vec::new();
    let mut readers = Vec::new();
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<()>();
    for ws in sockets.into_iter().flatten() {
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        outboxes.push(tx);
        tokio::spawn(write_all(sink, rx, sent_tx.clone()));
        let schedule = cfg.schedule;
        let clients = cfg.clients;
        let me = outboxes.len() - 1;
        let own = (0..total)
            .filter(|k| schedule.sender_of(clients, *k) == me)
            .count();
        readers.push(tokio::spawn(read_deliveries(
            stream, schedule, clients, total, own,
        )));
    }
    drop(sent_tx);
    let connected = outboxes.len();
    eprintln!("[{label}] {connected} connected; sending {total} messages");

    let before = cfg.server_pid.and_then(ProcSnapshot::read);
    let start = Instant::now();
    match cfg.schedule {
        Schedule::Burst { per_client } => {
            for (sender, outbox) in outboxes.iter().enumerate() {
                for seq in 0..per_client {
                    let _ = outbox.send(client::send_frame(
                        room,
                        sender,
                        seq,
                        &client::body(sender, seq),
                    ));
                }
            }
        }
        Schedule::Paced { rate, .. } => {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for k in 0..total {
                tick.tick().await;
                let sender = k % cfg.clients;
                if let Some(outbox) = outboxes.get(sender) {
                    let seq = k / cfg.clients;
                    let _ = outbox.send(client::send_frame(
                        room,
                        sender,
                        seq,
                        &client::body(sender, seq),
                    ));
                }
                if k % (rate as usize * 5).max(1) == 0 && k > 0 {
                    eprintln!("[{label}] sent {k} of {total}");
                }
            }
        }
    }
    drop(outboxes);
    let mut sent = 0u64;
    while sent_rx.recv().await.is_some() {
        sent += 1;
    }

    let progress = tokio::spawn({
        let label = label.to_owned();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("[{label}] still receiving...");
            }
        }
    });
    let mut seen = Seen::default();
    let mut too_slow = 0u64;
    for reader in readers {
        let s = reader.await.context("a reader panicked")?;
        seen.unique += s.unique;
        seen.duplicated += s.duplicated;
        seen.acks += s.acks;
        seen.latency.merge(&s.latency);
        seen.last = seen.last.max(s.last);
        if s.broken {
            errors.fetch_add(1, Ordering::Relaxed);
        }
        if s.close_code == Some(natter_shared::ws::close::TOO_SLOW) {
            too_slow += 1;
        }
    }
    progress.abort();
    let after = cfg.server_pid.and_then(ProcSnapshot::read);
    let took = seen
        .last
        .map_or(Duration::ZERO, |last| last.duration_since(start));
    let expected = (total * connected) as u64;
    let stored = stored(target, &tokens[0], room).await?;
    Ok(Report {
        scenario: label.to_owned(),
        server: flavor_name(target),
        clients: cfg.clients,
        messages_sent: sent,
        acks: seen.acks,
        expected_deliveries: expected,
        deliveries: seen.unique,
        lost: expected.saturating_sub(seen.unique),
        duplicated: seen.duplicated,
        connection_errors: errors.load(Ordering::Relaxed),
        seconds: took.as_secs_f64(),
        deliveries_per_second: per_second(seen.unique, took),
        messages_per_second: per_second(total as u64, took),
        latency: seen.latency.summary(),
        stored,
        extra: [("closed_too_slow".to_owned(), json!(too_slow))]
            .into_iter()
            .collect(),
        ..Report::default()
    }
    .with_server(before, after))
}

async fn join(
    target: &Target,
    token: &str,
    i: usize,
    sources: u8,
    room: i64,
) -> anyhow::Result<Socket> {
    let mut ws = client::connect(target, token, i, sources).await?;
    ws.send(Message::text(
        json!({ "type": "join", "room_id": room }).to_string(),
    ))
    .await?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no joined frame in 30 s")?
            .context("the socket closed while joining")??;
        if frame
            .to_text()
            .is_ok_and(|t| t.starts_with("{\"type\":\"joined\""))
        {
            return Ok(ws);
        }
    }
}

async fn write_all(
    mut sink: SplitSink<Socket, Message>,
    mut rx: mpsc::UnboundedReceiver<String>,
    sent: mpsc::UnboundedSender<()>,
) {
    while let Some(frame) = rx.recv().await {
        if sink.feed(Message::text(frame)).await.is_err() {
            return;
        }
        let _ = sent.send(());
        // Flush when nothing else is waiting, so a burst goes out in few writes.
        if rx.is_empty() && sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.flush().await;
    drop(sent);
    // Keep the write half open: closing it would end the session before deliveries finish.
    std::future::pending::<()>().await;
}

/// Reads until every message of the run has arrived and each of this client's `own` sends
/// is acked, or nothing comes for [`IDLE`].
async fn read_deliveries(
    mut stream: SplitStream<Socket>,
    schedule: Schedule,
    clients: usize,
    total: usize,
    own: usize,
) -> Seen {
    let mut seen = Seen::default();
    let mut got = vec![false; total];
    // Pings keep coming when deliveries stop: only deliveries and acks move the deadline.
    let mut deadline = tokio::time::Instant::now() + IDLE;
    while (seen.unique as usize) < total || (seen.acks as usize) < own {
        let frame = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(_))) | Ok(None) => {
                seen.broken = true;
                break;
            }
            Err(_) => break,
        };
        let Message::Text(text) = frame else {
            if let Message::Close(close) = frame {
                seen.broken = true;
                seen.close_code = close.map(|c| u16::from(c.code));
                break;
            }
            continue;
        };
        deadline = tokio::time::Instant::now() + IDLE;
        if let Some((sender, seq, sent)) = client::parse_delivery(&text) {
            let Some(i) = schedule.index(clients, sender, seq) else {
                continue;
            };
            if std::mem::replace(&mut got[i], true) {
                seen.duplicated += 1;
            } else {
                seen.unique += 1;
                seen.latency
                    .record(client::now_nanos().saturating_sub(sent) / 1000);
                seen.last = Some(Instant::now());
            }
        } else if text.starts_with("{\"type\":\"ack\"") {
            seen.acks += 1;
        }
    }
    seen
}

fn flavor_name(target: &Target) -> String {
    match target.flavor {
        Flavor::Natter if target.nodes.len() > 1 => {
            let nodes: Vec<String> = target.nodes.iter().map(ToString::to_string).collect();
            format!("natter cluster at {}", nodes.join(" + "))
        }
        Flavor::Natter => format!("natter at {}", target.addr),
        Flavor::Reference => format!("reference server at {}", target.addr),
    }
}

/// How many messages the room holds, read back a page at a time (Natter only).
async fn stored(target: &Target, token: &str, room: i64) -> anyhow::Result<Option<u64>> {
    if target.flavor == Flavor::Reference {
        return Ok(None);
    }
    let http = reqwest::Client::new();
    let mut count = 0u64;
    let mut before = String::new();
    loop {
        let page: Vec<serde_json::Value> = http
            .get(target.http(&format!("/api/rooms/{room}/messages?limit=100{before}")))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let Some(oldest) = page.first().and_then(|m| m["id"].as_i64()) else {
            return Ok(Some(count));
        };
        count += page.len() as u64;
        before = format!("&before={oldest}");
    }
}

/// S5: `senders` sockets that join nothing send `per_sender` messages each, back to back,
/// and wait for every ack: stored messages per second, acks after commit.
pub async fn ingest(
    target: &Target,
    senders: usize,
    per_sender: usize,
    sources: u8,
    pid: Option<u32>,
) -> anyhow::Result<(Report, i64, String)> {
    let plan = Spread {
        rooms: 1,
        body: client::body,
        users: None,
    };
    let (report, rooms, tokens) =
        ingest_into(target, &plan, senders, per_sender, sources, pid).await?;
    Ok((report, rooms[0], tokens[0].clone()))
}

/// Where [`ingest_into`] sends, and what.
pub struct Spread {
    /// Rooms made, every sender a member of all; sender `i` writes to room `i % rooms`.
    pub rooms: usize,
    /// The body of message `seq` of `sender`.
    pub body: fn(usize, usize) -> String,
    /// The senders' names are this and a number (by default, a name for the run).
    pub users: Option<String>,
}

/// [`ingest`] spread over rooms, with bodies of the caller's choosing: also the real write
/// path that fills the database of other scenarios. Returns the report, the rooms and the
/// senders' tokens.
pub async fn ingest_into(
    target: &Target,
    plan: &Spread,
    senders: usize,
    per_sender: usize,
    sources: u8,
    pid: Option<u32>,
) -> anyhow::Result<(Report, Vec<i64>, Vec<String>)> {
    let run = client::run_id();
    eprintln!("[S5] signing up {senders} users");
    let prefix = plan.users.clone().unwrap_or_else(|| format!("l{run}i"));
    let tokens = client::users(target, &prefix, senders).await?;
    let mut rooms = Vec::with_capacity(plan.rooms);
    for n in 0..plan.rooms.max(1) {
        let room = client::room(target, &tokens[0], &format!("ingest-{run}-{n}")).await?;
        client::join_all(target, &tokens, room).await?;
        rooms.push(room);
    }
    let body = plan.body;
    let sockets: Vec<anyhow::Result<Socket>> = stream::iter(tokens.iter().enumerate())
        .map(|(i, t)| client::connect(target, t, i, sources))
        .buffered(CONNECT_AT_ONCE)
        .collect()
        .await;
    let errors = sockets.iter().filter(|s| s.is_err()).count() as u64;
    eprintln!(
        "[S5] {} senders connected; sending {} messages",
        senders as u64 - errors,
        senders * per_sender
    );
    let before = pid.and_then(ProcSnapshot::read);
    let start = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(sender, ws)| {
            let room = rooms[sender % rooms.len()];
            tokio::spawn(async move {
                let (mut sink, mut stream) = ws.split();
                let mut latency = Latency::default();
                let mut sent_at = Vec::with_capacity(per_sender);
                for seq in 0..per_sender {
                    sent_at.push(Instant::now());
                    if sink
                        .feed(Message::text(client::send_frame(
                            room,
                            sender,
                            seq,
                            &body(sender, seq),
                        )))
                        .await
                        .is_err()
                    {
                        return (0u64, latency, None);
                    }
                }
                if sink.flush().await.is_err() {
                    return (0, latency, None);
                }
                let mut acks = 0u64;
                let mut refused = 0u64;
                let mut last = None;
                // Pings keep coming when acks stop: only answers move the deadline.
                let mut deadline = tokio::time::Instant::now() + IDLE;
                while ((acks + refused) as usize) < per_sender {
                    match tokio::time::timeout_at(deadline, stream.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) if t.starts_with("{\"type\":\"ack\"") => {
                            let now = Instant::now();
                            if let Some(at) = sent_at.get(acks as usize) {
                                latency.record(now.duration_since(*at).as_micros() as u64);
                            }
                            acks += 1;
                            last = Some(now);
                            deadline = tokio::time::Instant::now() + IDLE;
                        }
                        Ok(Some(Ok(Message::Text(t)))) if t.starts_with("{\"type\":\"error\"") => {
                            refused += 1;
                            deadline = tokio::time::Instant::now() + IDLE;
                        }
                        Ok(Some(Ok(_))) => {}
                        _ => break,
                    }
                }
                (acks, latency, last)
            })
        })
        .collect();
    let mut acks = 0;
    let mut latency = Latency::default();
    let mut last: Option<Instant> = None;
    for t in tasks {
        let (a, l, at) = t.await?;
        acks += a;
        latency.merge(&l);
        last = last.max(at);
    }
    let after = pid.and_then(ProcSnapshot::read);
    let took = last.map_or(Duration::ZERO, |l| l.duration_since(start));
    let total = (senders * per_sender) as u64;
    let mut stored_in_all = Some(0);
    for &room in &rooms {
        stored_in_all = match (stored_in_all, stored(target, &tokens[0], room).await?) {
            (Some(sum), Some(n)) => Some(sum + n),
            _ => None,
        };
    }
    let stored = stored_in_all;
    let report = Report {
        scenario: "S5 ingest".into(),
        server: flavor_name(target),
        clients: senders,
        messages_sent: total,
        acks,
        lost: total.saturating_sub(acks),
        connection_errors: errors,
        seconds: took.as_secs_f64(),
        messages_per_second: per_second(acks, took),
        latency: latency.summary(),
        stored,
        ..Report::default()
    };
    Ok((report.with_server(before, after), rooms, tokens))
}

/// S3: as many idle authenticated sockets as `count`; the server's memory per connection.
/// The sockets stay open (and answer pings) until the report is made.
pub async fn idle(
    target: &Target,
    count: usize,
    sources: u8,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    let run = client::run_id();
    let tokens = client::users(target, &format!("l{run}d"), 1).await?;
    let token = tokens[0].clone();
    let before = pid.and_then(ProcSnapshot::read);
    let start = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let opened = Arc::new(AtomicU64::new(0));
    let mut keep = Vec::with_capacity(count);
    let mut results = stream::iter(0..count)
        .map(|i| client::connect(target, &token, i, sources))
        .buffer_unordered(CONNECT_AT_ONCE * 4);
    while let Some(result) = results.next().await {
        match result {
            Ok(ws) => {
                let n = opened.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(5000) {
                    eprintln!("[S3] {n} connections open");
                }
                // Reading keeps answering the server's pings.
                keep.push(tokio::spawn(async move {
                    let (_sink, mut stream) = ws.split();
                    while let Some(Ok(_)) = stream.next().await {}
                }));
            }
            Err(e) => {
                if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("[S3] a connection failed: {e:#}");
                }
            }
        }
    }
    drop(results);
    // Let the server settle before measuring: a heartbeat interval.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = pid.and_then(ProcSnapshot::read);
    let open = opened.load(Ordering::Relaxed);
    let mut report = Report {
        scenario: "S3 idle connections".into(),
        server: flavor_name(target),
        clients: count,
        connection_errors: errors.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
        ..Report::default()
    }
    .with_server(before, after);
    report.extra.insert("connections_open".into(), json!(open));
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a.rss_kib.saturating_sub(b.rss_kib)) as f64 / open.max(1) as f64;
        report.extra.insert(
            "rss_kib_per_connection".into(),
            json!((per * 100.0).round() / 100.0),
        );
    }
    for k in keep {
        k.abort();
    }
    Ok(report)
}

/// S6: one socket joins `rooms` rooms (one user's, made for the run): the server's memory
/// with them all active, and after the socket has closed. A room's event buffer should cost
/// nothing until events come, and give its memory back when the room goes idle.
pub async fn many_rooms(target: &Target, rooms: usize, pid: Option<u32>) -> anyhow::Result<Report> {
    let run = client::run_id();
    let token = client::users(target, &format!("l{run}m"), 1)
        .await?
        .remove(0);
    let mut ids = Vec::with_capacity(rooms);
    for i in 0..rooms {
        ids.push(client::room(target, &token, &format!("m{run}-{i}")).await?);
    }
    let before = pid.and_then(ProcSnapshot::read);
    let start = Instant::now();
    let mut ws = client::connect(target, &token, 0, 1).await?;
    for id in &ids {
        let join = json!({ "type": "join", "room_id": id }).to_string();
        ws.send(Message::text(join)).await?;
    }
    let mut joined = 0;
    while joined < rooms {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no answer to a join in 30 s")?
            .context("the socket ended")??;
        let text = frame.to_text().unwrap_or_default();
        if text.contains("\"joined\"") {
            joined += 1;
        } else if text.contains("\"error\"") {
            anyhow::bail!(
                "a join was refused: {text} (run the server with NATTER_MAX_ROOMS_PER_SOCKET=0)"
            );
        }
    }
    let during = pid.and_then(ProcSnapshot::read);
    ws.close(None).await?;
    drop(ws);
    // The rooms stop once their last session has left: give them a heartbeat to.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = pid.and_then(ProcSnapshot::read);
    let mut report = Report {
        scenario: "S6 one socket in many rooms".into(),
        server: flavor_name(target),
        clients: 1,
        seconds: start.elapsed().as_secs_f64(),
        ..Report::default()
    }
    .with_server(before, during);
    report.extra.insert("rooms_joined".into(), json!(joined));
    let mib = |s: Option<ProcSnapshot>| s.map(|s| (s.rss_kib as f64 / 102.4).round() / 10.0);
    report
        .extra
        .insert("rss_mib_before".into(), json!(mib(before)));
    report
        .extra
        .insert("rss_mib_joined".into(), json!(mib(during)));
    report
        .extra
        .insert("rss_mib_after_close".into(), json!(mib(after)));
    Ok(report)
}

/// `GET`s each `(url, token)` over a connection of its own, one after the other, for
/// `seconds`: how many answered 2xx, how many did not, and the latency of the good ones.
async fn read_for(
    readers: Vec<(String, String)>,
    seconds: u64,
) -> anyhow::Result<(u64, u64, Latency)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = readers
        .into_iter()
        .map(|(url, token)| {
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()?;
                let mut latency = Latency::default();
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    let at = Instant::now();
                    let res = http.get(&url).bearer_auth(&token).send().await;
                    let good = match res {
                        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    if good {
                        ok += 1;
                        latency.record(at.elapsed().as_micros() as u64);
                    } else {
                        failed += 1;
                    }
                }
                anyhow::Ok((ok, failed, latency))
            })
        })
        .collect();
    let (mut ok, mut failed, mut latency) = (0, 0, Latency::default());
    for t in tasks {
        let (o, f, l) = t.await??;
        ok += o;
        failed += f;
        latency.merge(&l);
    }
    Ok((ok, failed, latency))
}

/// Runs [`read_for`] and reports it as `scenario`: latency, failures, requests and requests
/// per second, and the server's CPU and memory over the run.
async fn read_report(
    target: &Target,
    scenario: &str,
    readers: Vec<(String, String)>,
    seconds: u64,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    let connections = readers.len();
    let before = pid.and_then(ProcSnapshot::read);
    let start = Instant::now();
    let (ok, failed, latency) = read_for(readers, seconds).await?;
    let took = start.elapsed();
    let after = pid.and_then(ProcSnapshot::read);
    let mut report = Report {
        scenario: scenario.into(),
        server: flavor_name(target),
        clients: connections,
        seconds: took.as_secs_f64(),
        latency: latency.summary(),
        connection_errors: failed,
        ..Report::default()
    }
    .with_server(before, after);
    report.extra.insert("requests".into(), json!(ok));
    report.extra.insert(
        "requests_per_second".into(),
        json!(per_second(ok, took).round()),
    );
    Ok(report)
}

/// S7: `users` users, each a member of `per_user` of `users` public rooms, and `messages`
/// messages spread over the rooms by their owners (one in ten says `@room`), unread for
/// everyone else; `connections` HTTP clients (each a different user) read their first page
/// of `GET /api/rooms` (100 rooms, with member counts, unread and mention counts) for
/// `seconds`.
pub async fn memberships(
    target: &Target,
    users: usize,
    per_user: usize,
    messages: usize,
    connections: usize,
    seconds: u64,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    let run = client::run_id();
    let per_user = per_user.min(users);
    eprintln!("[S7] signing up {users} users; each makes a room");
    let tokens = client::users(target, &format!("l{run}m"), users).await?;
    let rooms: Vec<anyhow::Result<i64>> = stream::iter(tokens.iter().enumerate())
        .map(|(i, token)| {
            let name = format!("m{run}-{i}");
            async move { client::room(target, token, &name).await }
        })
        .buffered(16)
        .collect()
        .await;
    let rooms = rooms.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("[S7] {users} users join {} rooms each", per_user - 1);
    let started = Instant::now();
    let joins: Vec<(usize, i64)> = (0..users)
        .flat_map(|u| (1..per_user).map(move |k| (u, (u + k) % users)))
        .map(|(u, r)| (u, rooms[r]))
        .collect();
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let answers: Vec<anyhow::Result<()>> = stream::iter(joins)
        .map(|(u, room)| {
            let (http, token, done) = (http.clone(), tokens[u].clone(), done.clone());
            async move {
                let res = http
                    .post(target.http(&format!("/api/rooms/{room}/join")))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                anyhow::ensure!(
                    res.status().is_success(),
                    "a join answered {}",
                    res.status()
                );
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 20_000 == 0 {
                    eprintln!("[S7] {n} joins");
                }
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    answers.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "[S7] {} memberships in {:.0} s; posting {messages} messages",
        users * per_user,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let posted: Vec<anyhow::Result<()>> = stream::iter(0..messages)
        .map(|n| {
            let (http, room) = (http.clone(), rooms[n % users]);
            let token = tokens[n % users].clone();
            let body = if n % 10 == 0 {
                format!("@room news {n}")
            } else {
                format!("news {n}")
            };
            async move {
                let res = http
                    .post(target.http(&format!("/api/rooms/{room}/messages")))
                    .bearer_auth(&token)
                    .json(&json!({ "body": body }))
                    .send()
                    .await?;
                anyhow::ensure!(
                    res.status().is_success(),
                    "a post answered {}",
                    res.status()
                );
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    posted.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "[S7] {messages} messages in {:.0} s; reading room lists with {connections} connections for {seconds} s",
        started.elapsed().as_secs_f64()
    );
    let url = target.http("/api/rooms");
    let readers = (0..connections)
        .map(|i| (url.clone(), tokens[i % users].clone()))
        .collect();
    let mut report = read_report(target, "S7 room lists", readers, seconds, pid).await?;
    report.extra.insert("users".into(), json!(users));
    report
        .extra
        .insert("memberships_per_user".into(), json!(per_user));
    report.extra.insert("messages".into(), json!(messages));
    Ok(report)
}

/// S4: a room filled with `seed` messages; `connections` HTTP clients ask for its latest 25
/// for `seconds`.
pub async fn history(
    target: &Target,
    seed: usize,
    connections: usize,
    seconds: u64,
    sources: u8,
    pid: Option<u32>,
) -> anyhow::Result<Report> {
    let senders = 100.min(seed.max(1));
    let (_, room, token) = ingest(target, senders, seed.div_ceil(senders), sources, None).await?;
    eprintln!(
        "[S4] {seed} messages stored; reading the latest 25 with {connections} connections for {seconds} s"
    );
    let url = target.http(&format!("/api/rooms/{room}/messages"));
    let readers = (0..connections)
        .map(|_| (url.clone(), token.clone()))
        .collect();
    let mut report = read_report(target, "S4 history", readers, seconds, pid).await?;
    report.extra.insert("messages_in_room".into(), json!(seed));
    Ok(report)
}

/// What [`search`] does.
pub struct SearchPlan {
    pub messages: usize,
    pub rooms: usize,
    pub connections: usize,
    pub seconds: u64,
    /// A shell command run between storing and searching.
    pub before_search: Option<String>,
    /// The senders' names are this and a number.
    pub users: Option<String>,
    /// The messages are in the database already, stored by an earlier run with the same
    /// `users`: log in as them and search.
    pub reuse: bool,
}

/// S8: `messages` messages of made-up text (see [`crate::corpus`]) spread over `rooms`
/// rooms through the real write path (100 senders on sockets, every one a member of every
/// room); then `connections` HTTP clients, each a different member running one of the
/// scenario's searches over and over, for `seconds`. Also each search alone, ten times in a
/// row: its median and how many results its first page has.
pub async fn search(
    target: &Target,
    plan: &SearchPlan,
    sources: u8,
    pid: Option<u32>,
) -> anyhow::Result<Vec<Report>> {
    let SearchPlan {
        messages,
        rooms,
        connections,
        seconds,
        ref before_search,
        ref users,
        reuse,
    } = *plan;
    let senders = 100.min(messages.max(1));
    let mut reports = Vec::new();
    let tokens = match users {
        Some(prefix) if reuse => {
            eprintln!(
                "[S8] searching what {prefix}0 to {prefix}{} stored in an earlier run",
                senders - 1
            );
            client::log_in(target, prefix, senders).await?
        }
        _ => {
            let plan = Spread {
                rooms,
                body: crate::corpus::body,
                users: users.clone(),
            };
            let (mut seeded, _, tokens) = ingest_into(
                target,
                &plan,
                senders,
                messages.div_ceil(senders),
                sources,
                pid,
            )
            .await?;
            seeded.scenario = "S8 seeding (the S5 path, with the search index)".into();
            reports.push(seeded);
            tokens
        }
    };
    if let Some(command) = before_search {
        eprintln!("[S8] running {command}");
        let status = std::process::Command::new("sh")
            .args(["-c", command])
            .status()?;
        anyhow::ensure!(status.success(), "`{command}` failed: {status}");
    }
    let queries = crate::corpus::queries();
    let url = |q: &str| {
        let q: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        target.http(&format!("/api/search?q={q}&limit=20"))
    };
    eprintln!(
        "[S8] {messages} messages stored in {rooms} rooms; {connections} connections search for {seconds} s"
    );
    let readers = (0..connections)
        .map(|i| {
            (
                url(&queries[i % queries.len()]),
                tokens[i % tokens.len()].clone(),
            )
        })
        .collect();
    let mut report = read_report(target, "S8 search", readers, seconds, pid).await?;
    let http = reqwest::Client::new();
    let mut alone = serde_json::Map::new();
    for q in &queries {
        let mut took = Vec::new();
        let mut results = 0;
        for _ in 0..10 {
            let at = Instant::now();
            let page: serde_json::Value = http
                .get(url(q))
                .bearer_auth(&tokens[0])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            took.push(at.elapsed().as_secs_f64() * 1000.0);
            results = page["results"].as_array().map_or(0, Vec::len);
        }
        took.sort_by(f64::total_cmp);
        alone.insert(
            q.clone(),
            json!({ "median_ms": (took[5] * 100.0).round() / 100.0, "results": results }),
        );
    }
    report.extra.insert("messages".into(), json!(messages));
    report.extra.insert("rooms".into(), json!(rooms));
    report.extra.insert("each_alone".into(), json!(alone));
    reports.push(report);
    Ok(reports)
}
