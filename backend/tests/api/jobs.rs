use crate::helpers::{TestApp, TestResult, TestUser};
use crate::ws_client::{WAIT, WsClient};
use actix_web::{App, HttpResponse, HttpServer, web};
use natter::config::{RateLimit, SmsProviderKind};
use natter::db::{Database, jobs};
use natter_shared::ws::ServerFrame;
use natter_shared::{ErrorKind, Me, MessageKind, Room};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A local SMS webhook that answers with the planned statuses in turn (then 200) and
/// reports every call.
pub struct Webhook {
    pub url: String,
    pub calls: mpsc::UnboundedReceiver<(i64, u16)>,
}

pub async fn webhook(plan: Vec<u16>) -> Webhook {
    let (tx, calls) = mpsc::unbounded_channel();
    let plan = Arc::new(Mutex::new(plan.into_iter()));
    let server = HttpServer::new(move || {
        let (tx, plan) = (tx.clone(), plan.clone());
        App::new().route(
            "/sms",
            web::post().to(move |body: web::Json<Value>| {
                let (tx, plan) = (tx.clone(), plan.clone());
                async move {
                    let status = plan.lock().expect("the plan").next().unwrap_or(200);
                    let job = body["job_id"].as_i64().unwrap_or(-1);
                    let _ = tx.send((job, status));
                    HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(status).expect("a status"),
                    )
                    .finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("the webhook binds");
    let port = server.addrs()[0].port();
    actix_web::rt::spawn(server.run());
    Webhook {
        url: format!("http://127.0.0.1:{port}/sms"),
        calls,
    }
}

impl Webhook {
    pub async fn call(&mut self) -> (i64, u16) {
        tokio::time::timeout(WAIT, self.calls.recv())
            .await
            .expect("the webhook is called in time")
            .expect("the webhook runs")
    }
}

/// `natter worker` as a child process on the app's database, once it has started: it says so
/// on stderr, and from then on it stops cleanly on SIGTERM.
fn worker_process(app: &TestApp, env: &[(&str, &str)]) -> std::io::Result<Child> {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_natter"))
        .arg("worker")
        .envs(app.db.env())
        .env("NATTER_WORKER_POLL_MS", "50")
        .env("NATTER_JOB_BACKOFF_MS", "50")
        .env("RUST_LOG", "warn,natter::worker=info")
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("job worker started") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(WAIT)
        .expect("the worker says it has started");
    Ok(child)
}

fn stop(mut child: Child) -> TestResult {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    let status = child.wait()?;
    assert!(
        status.success(),
        "the worker stops cleanly on SIGTERM: {status}"
    );
    Ok(())
}

pub async fn set_phone(app: &TestApp, user: &TestUser, phone: Value) -> crate::helpers::Answer {
    app.request(
        reqwest::Method::PATCH,
        "/api/me",
        Some(&user.token),
        Some(&json!({ "phone": phone })),
    )
    .await
}

/// Gives `user` a verified number directly in the database: for tests of what comes after
/// verification (`phone_numbers_are_used_only_once_verified` tests the verification).
pub fn verified_phone(app: &TestApp, user: &TestUser, phone: &str) {
    let db = Database::open(&app.database_url()).expect("the database opens");
    let (id, phone) = (user.auth.user.id, phone.to_owned());
    db.run_blocking(move |conn| Ok(natter::db::users::set_verified_phone(conn, id, &phone)?))
        .expect("the phone is set");
}

/// What `/sms` answers whether or not an SMS goes out.
pub const REQUESTED: &str = "SMS to bob requested: if they can receive one, it is on its way.";

pub fn all_jobs(app: &TestApp) -> Vec<jobs::JobRow> {
    let db = Database::open(&app.database_url()).expect("the database opens");
    db.run_blocking(|conn| Ok(jobs::all(conn)?)).expect("jobs")
}

/// alice in "general" with a socket; bob, who said hi there, with a verified phone number.
async fn sms_setup(app: &TestApp) -> (TestUser, TestUser, Room, WsClient) {
    let (alice, bob, room) = app.two_users_in_a_room().await;
    verified_phone(app, &bob, "+15551234567");
    // `/sms` reaches people who take part in the room.
    app.send(&bob, room.id, "hi").await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    (alice, bob, room, a)
}

pub async fn notice(ws: &mut WsClient) -> String {
    match ws
        .until("notice", |f| matches!(f, ServerFrame::Notice { .. }))
        .await
    {
        ServerFrame::Notice { body, .. } => body,
        _ => unreachable!(),
    }
}

/// The next bot message's body.
pub async fn bot_says(ws: &mut WsClient) -> String {
    match ws
        .until(
            "bot message",
            |f| matches!(f, ServerFrame::Message { message } if message.kind == MessageKind::Bot),
        )
        .await
    {
        ServerFrame::Message { message } => message.body,
        _ => unreachable!(),
    }
}

/// The code the log provider "sent" to `phone`, once the worker has sent it.
async fn code_sent_to(app: &TestApp, phone: &str) -> String {
    let db = Database::open(&app.database_url()).expect("the database opens");
    let deadline = std::time::Instant::now() + crate::ws_client::WAIT;
    loop {
        let outbox = db
            .run_blocking(|conn| Ok(jobs::outbox(conn)?))
            .expect("the outbox");
        if let Some((_, _, body)) = outbox.iter().rev().find(|(_, to, _)| to == phone) {
            return body
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .expect("a six-digit code")
                .to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no code was sent to {phone}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn verify(app: &TestApp, user: &TestUser, code: &str) -> crate::helpers::Answer {
    app.post("/api/me/phone/verify", &user.token, json!({ "code": code }))
        .await
}

#[actix_web::test]
async fn phone_numbers_are_used_only_once_verified() -> TestResult {
    let app = TestApp::spawn().await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    app.send(&bob, room.id, "hi").await;
    let set: Me = set_phone(&app, &bob, json!("+447911123456")).await.json()?;
    assert_eq!(set.phone, None, "not verified yet");
    assert_eq!(set.phone_pending.as_deref(), Some("+447911123456"));

    // Until verified, /sms sends nothing (and says the same as when it does).
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    assert!(all_jobs(&app).iter().all(|j| j.kind != "sms"));

    let code = code_sent_to(&app, "+447911123456").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        verify(&app, &bob, wrong).await.error(),
        ErrorKind::InvalidCode
    );
    let me: Me = verify(&app, &bob, &code).await.json()?;
    assert_eq!(
        (me.phone.as_deref(), me.phone_pending),
        (Some("+447911123456"), None)
    );
    // A code works once.
    assert_eq!(
        verify(&app, &bob, &code).await.error(),
        ErrorKind::InvalidCode
    );

    for bad in [json!("0791 112"), json!("+0123"), json!(12345)] {
        let res = set_phone(&app, &bob, bad.clone()).await;
        let kind = res.error();
        assert!(
            matches!(kind, ErrorKind::InvalidPhone | ErrorKind::InvalidRequest),
            "{bad}: {kind:?}"
        );
    }
    // Nobody else sees it.
    let users = app.get("/api/users", &alice.token).await;
    assert!(!users.body.to_string().contains("+447911123456"));

    let cleared: Me = set_phone(&app, &bob, Value::Null).await.json()?;
    assert_eq!((cleared.phone, cleared.phone_pending), (None, None));
    Ok(())
}

#[actix_web::test]
async fn wrong_codes_run_out() -> TestResult {
    let app = TestApp::spawn_with(|s| s.login_rate_limit = RateLimit::OFF).await;
    let bob = app.user("bob").await;
    set_phone(&app, &bob, json!("+15550001111")).await;
    let code = code_sent_to(&app, "+15550001111").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            verify(&app, &bob, wrong).await.error(),
            ErrorKind::InvalidCode
        );
    }
    // Five wrong tries, and the right code no longer works: guessing a million codes is
    // not possible.
    assert_eq!(
        verify(&app, &bob, &code).await.error(),
        ErrorKind::InvalidCode
    );
    Ok(())
}

#[actix_web::test]
async fn sms_is_queued_sent_by_the_in_process_worker_and_reported() -> TestResult {
    let app = TestApp::spawn().await;
    let (_alice, _bob, _room, mut a) = sms_setup(&app).await;
    a.say(_room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    assert_eq!(bot_says(&mut a).await, "An SMS has been sent to bob.");

    let db = Database::open(&app.database_url())?;
    let outbox = db.run_blocking(|conn| Ok(jobs::outbox(conn)?))?;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].1, "+15551234567");
    // The same words every time: nothing the sender chose, not even their name.
    assert_eq!(outbox[0].2, natter::worker::SMS_TEXT);
    let jobs = all_jobs(&app);
    assert_eq!((jobs[0].state.as_str(), jobs[0].attempts), ("done", 1));
    Ok(())
}

#[actix_web::test]
async fn sms_goes_only_to_others_in_the_conversation_and_tells_nothing_of_phones() -> TestResult {
    let app = TestApp::spawn_with(|s| s.sms_rate_limit = RateLimit::OFF).await;
    let (alice, bob, room) = app.two_users_in_a_room().await;
    let carol = app.user("carol").await;
    let mut a = app.ws(&alice).await;
    a.join(room.id, None).await;
    a.say(room.id, "/sms nobody", "s1").await;
    assert_eq!(notice(&mut a).await, "There is no user named nobody.");
    a.say(room.id, "/sms natterbot", "s2").await;
    assert_eq!(notice(&mut a).await, "There is no user named natterbot.");
    a.say(room.id, "/sms alice", "s3").await;
    assert_eq!(notice(&mut a).await, "You cannot /sms yourself.");
    // Carol has a phone, but has never been in this room.
    verified_phone(&app, &carol, "+15552223333");
    a.say(room.id, "/sms carol", "s4").await;
    let answer = notice(&mut a).await;
    assert!(
        answer.starts_with("carol is not in this conversation"),
        "{answer}"
    );
    // Bob is in it and has no phone: the answer is the one he would get with a phone.
    app.send(&bob, room.id, "hi").await;
    a.say(room.id, "/sms bob", "s5").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    assert!(all_jobs(&app).is_empty());
    Ok(())
}

#[actix_web::test]
async fn one_number_gets_a_few_sms_a_day_whoever_asks() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.sms_rate_limit = RateLimit::OFF;
        s.sms_per_recipient_per_day = 3;
    })
    .await;
    let (_alice, bob, room, mut a) = sms_setup(&app).await;
    // Fresh accounts, each asking once: the cap is the number's, not the sender's.
    for i in 0..5 {
        let other = app.user(&format!("pump{i}")).await;
        let mut ws = app.ws(&other).await;
        ws.join(room.id, None).await;
        ws.say(room.id, "/sms bob", &format!("p{i}")).await;
        assert_eq!(notice(&mut ws).await, REQUESTED);
    }
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    let sms = all_jobs(&app)
        .into_iter()
        .filter(|j| j.kind == "sms")
        .count();
    assert_eq!(sms, 3, "three SMS to one number in a day, not six");
    // Verification codes count against the same cap.
    let res = set_phone(&app, &bob, json!("+15551234567")).await;
    assert_eq!(res.error(), ErrorKind::RateLimited);
    Ok(())
}

#[actix_web::test]
async fn sms_has_its_own_rate_limit() -> TestResult {
    let app = TestApp::spawn_with(|s| {
        s.sms_rate_limit = RateLimit {
            per_second: 0.01,
            burst: 1,
        }
    })
    .await;
    let (_alice, _bob, room, mut a) = sms_setup(&app).await;
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    a.say(room.id, "/sms bob", "s2").await;
    assert!(notice(&mut a).await.starts_with("Too many SMS"));
    assert_eq!(all_jobs(&app).len(), 1);
    Ok(())
}

#[actix_web::test]
async fn a_job_queued_with_no_worker_is_done_once_a_worker_process_starts() -> TestResult {
    let app = TestApp::spawn_with(|s| s.run_worker = false).await;
    let (_alice, _bob, room, mut a) = sms_setup(&app).await;
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    let queued = all_jobs(&app);
    assert_eq!((queued.len(), queued[0].state.as_str()), (1, "queued"));

    let worker = worker_process(&app, &[])?;
    // The report comes from another process, and still reaches this socket live.
    assert_eq!(bot_says(&mut a).await, "An SMS has been sent to bob.");
    stop(worker)?;
    assert_eq!(all_jobs(&app)[0].state, "done");
    Ok(())
}

#[actix_web::test]
async fn two_worker_processes_never_send_one_job_twice() -> TestResult {
    const JOBS: usize = 30;
    let mut hook = webhook(Vec::new()).await;
    let app = TestApp::spawn_with(|s| {
        s.run_worker = false;
        s.sms_rate_limit = RateLimit::OFF;
        s.sms_per_recipient_per_day = 0;
    })
    .await;
    let (_alice, _bob, room, mut a) = sms_setup(&app).await;
    for i in 0..JOBS {
        a.say(room.id, "/sms bob", &format!("s{i}")).await;
        assert_eq!(notice(&mut a).await, REQUESTED);
    }
    let env = [
        ("NATTER_SMS_PROVIDER", "webhook"),
        ("NATTER_SMS_WEBHOOK_URL", hook.url.as_str()),
    ];
    let workers = [worker_process(&app, &env)?, worker_process(&app, &env)?];
    let mut sent: HashMap<i64, usize> = HashMap::new();
    for _ in 0..JOBS {
        let (job, _) = hook.call().await;
        *sent.entry(job).or_default() += 1;
    }
    for _ in 0..JOBS {
        assert_eq!(bot_says(&mut a).await, "An SMS has been sent to bob.");
    }
    for worker in workers {
        stop(worker)?;
    }
    assert_eq!(sent.len(), JOBS);
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    assert!(hook.calls.try_recv().is_err(), "no call beyond one per job");
    assert!(
        all_jobs(&app)
            .iter()
            .all(|j| j.state == "done" && j.attempts == 1)
    );
    Ok(())
}

#[actix_web::test]
async fn a_webhook_that_fails_twice_gets_three_attempts_and_one_report() -> TestResult {
    let mut hook = webhook(vec![500, 503]).await;
    let url = hook.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.sms_provider = SmsProviderKind::Webhook;
        s.sms_webhook_url = Some(url);
        s.job_backoff_ms = 50;
        s.worker_poll_ms = 50;
    })
    .await;
    let (_alice, _bob, room, mut a) = sms_setup(&app).await;
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    let calls = [hook.call().await, hook.call().await, hook.call().await];
    assert_eq!(calls.map(|c| c.1), [500, 503, 200]);
    assert!(
        calls.iter().all(|c| c.0 == calls[0].0),
        "the same job each time"
    );
    assert_eq!(bot_says(&mut a).await, "An SMS has been sent to bob.");
    let job = &all_jobs(&app)[0];
    assert_eq!((job.state.as_str(), job.attempts), ("done", 3));
    assert_eq!(
        job.last_error.as_deref(),
        Some("webhook answered 503 Service Unavailable")
    );
    Ok(())
}

#[actix_web::test]
async fn after_the_last_attempt_the_room_hears_that_the_sms_failed() -> TestResult {
    let mut hook = webhook(vec![500; 10]).await;
    let url = hook.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.sms_provider = SmsProviderKind::Webhook;
        s.sms_webhook_url = Some(url);
        s.job_backoff_ms = 20;
        s.worker_poll_ms = 20;
        s.job_max_attempts = 2;
    })
    .await;
    let (_alice, _bob, room, mut a) = sms_setup(&app).await;
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    let report = bot_says(&mut a).await;
    assert_eq!(
        report,
        "The SMS to bob could not be sent after 2 attempts: webhook answered 500 Internal Server Error."
    );
    assert_eq!(hook.call().await.1, 500);
    assert_eq!(hook.call().await.1, 500);
    let job = &all_jobs(&app)[0];
    assert_eq!((job.state.as_str(), job.attempts), ("failed", 2));
    Ok(())
}

#[actix_web::test]
async fn a_job_whose_worker_died_is_taken_again_after_its_lease() -> TestResult {
    let app = TestApp::spawn_with(|s| s.run_worker = false).await;
    let (_alice, _bob, room, mut a) = sms_setup(&app).await;
    a.say(room.id, "/sms bob", "s1").await;
    assert_eq!(notice(&mut a).await, REQUESTED);
    // A worker that claims the job and dies: its lease runs out in 300 ms.
    let db = Database::open(&app.database_url())?;
    let ghost = db.run_blocking(|conn| {
        let now = chrono::Utc::now().naive_utc();
        Ok(jobs::claim(
            conn,
            "ghost",
            now,
            now + chrono::Duration::milliseconds(300),
        )?)
    })?;
    assert!(ghost.is_some());

    let worker = worker_process(&app, &[])?;
    assert_eq!(bot_says(&mut a).await, "An SMS has been sent to bob.");
    stop(worker)?;
    let job = &all_jobs(&app)[0];
    assert_eq!((job.state.as_str(), job.attempts), ("done", 2));
    // The ghost cannot complete what it no longer holds.
    let late = db.run_blocking(|conn| {
        Ok(jobs::complete(
            conn,
            job.id,
            "ghost",
            chrono::Utc::now().naive_utc(),
        )?)
    })?;
    assert!(!late);
    Ok(())
}
