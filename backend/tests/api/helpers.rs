//! `TestApp`: the real server on port 0 over a fresh database, and typed REST helpers.
//!
//! The database is a fresh SQLite file by default. With `NATTER_TEST_POSTGRES` set to a
//! server's URL (e.g. `postgres://postgres@127.0.0.1:5432`), every app gets a database of its
//! own on that server instead, dropped when the app is.

use natter::config::{DatabaseUrl, RateLimit, Settings};
use natter::startup::Application;
use natter_shared::{AuthResponse, ErrorBody, ErrorKind, Message, MessageId, Room, RoomId};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::PathBuf;
use tempfile::TempDir;

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub const PASSWORD: &str = "correct horse";

pub struct TestApp {
    pub addr: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub stopper: natter::startup::Stopper,
    pub db: TestDb,
    pub dir: TempDir,
}

/// A test's own database: a file in its folder, or a database on the test Postgres server.
pub struct TestDb {
    url: DatabaseUrl,
    /// The Postgres server's maintenance URL and the database's name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

/// Test databases are on this machine: no TLS and no GSSAPI for them. Servers of finished
/// tests keep running until the test process exits, and their threads reconnect to the
/// database they lost; a connection being set up while the process exits would race the
/// TLS and Kerberos libraries' exit handlers, which corrupts the heap.
const LOOPBACK: &str = "?sslmode=disable&gssencmode=disable";

/// The secret every app on Postgres signs with (several nodes must share one).
pub const POSTGRES_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

impl TestDb {
    /// A fresh database: on `NATTER_TEST_POSTGRES` if set, else a SQLite file in `dir`.
    pub fn fresh(dir: &std::path::Path) -> Self {
        match std::env::var("NATTER_TEST_POSTGRES") {
            Ok(server) if !server.is_empty() => Self::postgres(&server),
            _ => Self {
                url: DatabaseUrl::Sqlite(dir.join("natter.db")),
                postgres: None,
            },
        }
    }

    /// A fresh database on the Postgres server at `server` (no database name in it).
    pub fn postgres(server: &str) -> Self {
        use diesel::{Connection, RunQueryDsl};
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let server = server.trim_end_matches('/');
        let name = format!(
            "natter_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let admin = format!("{server}/postgres{LOOPBACK}");
        let mut conn = diesel::PgConnection::establish(&admin)
            .unwrap_or_else(|e| panic!("the test Postgres server at {server} answers: {e}"));
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .expect("an old test database is dropped");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .expect("a test database is created");
        Self {
            url: DatabaseUrl::Postgres(format!("{server}/{name}{LOOPBACK}")),
            postgres: Some((admin, name)),
        }
    }

    /// A SQLite file at `path`.
    pub fn sqlite(path: PathBuf) -> Self {
        Self {
            url: DatabaseUrl::Sqlite(path),
            postgres: None,
        }
    }

    /// A fresh database on this machine's Postgres (`NATTER_TEST_POSTGRES`, by default
    /// `postgres://postgres@127.0.0.1:5432`), whatever the suite runs on.
    pub fn on_postgres() -> Self {
        Self::postgres(
            &std::env::var("NATTER_TEST_POSTGRES")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".into()),
        )
    }

    /// On Postgres: ends every connection to this database, as a restart, a failover or an
    /// idle-connection reaper would. Returns how many it ended.
    pub fn kill_connections(&self) -> usize {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Ended {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let DatabaseUrl::Postgres(url) = &self.url else {
            panic!("only a Postgres database has connections to kill");
        };
        let (server, name) = url.rsplit_once('/').expect("a database name in the URL");
        let name = name.trim_end_matches(LOOPBACK);
        let mut conn = diesel::PgConnection::establish(&format!("{server}/postgres{LOOPBACK}"))
            .expect("the test Postgres server answers");
        let ended: Ended = diesel::sql_query(
            "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(&mut conn)
        .expect("connections are ended");
        ended.n as usize
    }

    pub fn url(&self) -> DatabaseUrl {
        self.url.clone()
    }

    /// The same database, for a second server; dropping it drops nothing.
    pub fn shared(&self) -> Self {
        Self {
            url: self.url.clone(),
            postgres: None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.url, DatabaseUrl::Postgres(_))
    }

    /// Points `settings` at this database (with the shared secret on Postgres).
    pub fn apply(&self, settings: &mut Settings) {
        settings.database_url = self.url();
        if self.is_postgres() {
            settings.jwt_secret = Some(POSTGRES_JWT_SECRET.into());
        }
    }

    /// `DATABASE_URL` and, on Postgres, `NATTER_JWT_SECRET` for a child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(
            "DATABASE_URL",
            match &self.url {
                DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
                DatabaseUrl::Postgres(url) => url.clone(),
            },
        )];
        if self.is_postgres() {
            env.push(("NATTER_JWT_SECRET", POSTGRES_JWT_SECRET.into()));
        }
        env
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        let Some((admin, name)) = &self.postgres else {
            return;
        };
        let dropped = diesel::PgConnection::establish(admin)
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {name}: {e}");
        }
    }
}

/// A signed-up user and their token.
pub struct TestUser {
    pub token: String,
    pub auth: AuthResponse,
}

impl TestUser {
    pub fn name(&self) -> &str {
        &self.auth.user.username
    }

    /// The same user with another token (after a password change).
    pub fn from_token(token: &str, user: &TestUser) -> TestUser {
        TestUser {
            token: token.to_owned(),
            auth: AuthResponse {
                token: token.to_owned(),
                user: user.auth.user.clone(),
            },
        }
    }
}

/// The status and JSON body of one response.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(self.body.clone())
    }

    /// Asserts the contract's error body and returns its kind.
    pub fn error(&self) -> ErrorKind {
        let body: ErrorBody = match self.json() {
            Ok(b) => b,
            Err(e) => panic!("not an error body ({e}): {} {}", self.status, self.body),
        };
        assert!(
            !body.message.is_empty(),
            "an error says something: {}",
            self.body
        );
        assert_eq!(
            self.status.as_u16(),
            body.error.status(),
            "status fits kind: {}",
            self.body
        );
        body.error
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(customize: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = TestDb::fresh(dir.path());
        Self::spawn_on(db, dir, customize).await
    }

    /// A server on `db` (which may be another server's, see [`TestDb::shared`]).
    pub async fn spawn_on(db: TestDb, dir: TempDir, customize: impl FnOnce(&mut Settings)) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            natter::telemetry::init("debug");
        }
        let mut settings = Settings::with_database(db.url());
        db.apply(&mut settings);
        settings.addr = "127.0.0.1:0".parse().expect("an address");
        settings.bcrypt_cost = 4;
        settings.workers = 2;
        settings.rate_limit = RateLimit::OFF;
        // Every test client comes from 127.0.0.1: the per-address and per-second limits
        // that real users never meet are off, unless a test of them turns them on.
        settings.signup_rate_limit = RateLimit::OFF;
        settings.read_rate_limit = RateLimit::OFF;
        settings.search_rate_limit = RateLimit::OFF;
        settings.create_rate_limit = RateLimit::OFF;
        settings.max_sockets_per_addr = 0;
        settings.static_dir = dir.path().join("no-app");
        // Each app's own, on Postgres too (whose default is the working folder).
        settings.upload_dir = Some(dir.path().join("uploads"));
        settings.upload_rate_limit = RateLimit::OFF;
        customize(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("the server starts");
        let port = app.port();
        let stopper = app.stopper();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::new(),
            stopper,
            db,
            dir,
        }
    }

    /// The secret the app signs tokens with.
    pub fn jwt_secret(&self) -> Vec<u8> {
        match self.db.url() {
            DatabaseUrl::Sqlite(path) => {
                let dir = path.parent().expect("the data folder");
                std::fs::read(dir.join("jwt-secret")).expect("the generated secret")
            }
            DatabaseUrl::Postgres(_) => POSTGRES_JWT_SECRET.as_bytes().to_vec(),
        }
    }

    /// The app's database, for a second server or a direct look.
    pub fn database_url(&self) -> DatabaseUrl {
        self.db.url()
    }

    /// The SQLite file; panics on Postgres (for tests of what only a file can go through).
    pub fn db_path(&self) -> PathBuf {
        match self.db.url() {
            DatabaseUrl::Sqlite(path) => path,
            DatabaseUrl::Postgres(_) => panic!("this test needs the SQLite file"),
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.addr));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.expect("the server answers");
        answer(res).await
    }

    /// The value of one counter or gauge in `/metrics` (0 when it is not there).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.addr))
            .send()
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics has a body");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// `/readyz`: its status, and the reason in its body when it is not ready.
    pub async fn readiness(&self) -> (StatusCode, String) {
        let res = self
            .client
            .get(format!("{}/readyz", self.addr))
            .send()
            .await
            .expect("/readyz answers");
        (res.status(), res.text().await.unwrap_or_default())
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: impl Serialize) -> Answer {
        let body = serde_json::to_value(body).expect("a JSON body");
        self.request(Method::POST, path, Some(token), Some(&body))
            .await
    }

    pub async fn signup_as(&self, username: &str, password: &str) -> Answer {
        let body = json!({ "username": username, "password": password });
        self.request(Method::POST, "/api/auth/signup", None, Some(&body))
            .await
    }

    pub async fn login_as(&self, username: &str, password: &str) -> Answer {
        let body = json!({ "username": username, "password": password });
        self.request(Method::POST, "/api/auth/login", None, Some(&body))
            .await
    }

    /// An admin, made the way `natter create-admin` makes one, and signed in.
    pub async fn admin(&self, username: &str) -> TestUser {
        let mut settings = Settings::with_database(self.database_url());
        settings.bcrypt_cost = 4;
        let name = natter_shared::Username::parse(username).expect("a valid name");
        let password = natter_shared::Password::parse(PASSWORD).expect("a valid password");
        natter::cli::make_admin(&settings, &name, &password).expect("the admin is created");
        let res = self.login_as(username, PASSWORD).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let auth: AuthResponse = res.json().expect("an auth answer");
        TestUser {
            token: auth.token.clone(),
            auth,
        }
    }

    /// Signs up `username` and returns the new user; panics on anything but 201.
    pub async fn user(&self, username: &str) -> TestUser {
        let res = self.signup_as(username, PASSWORD).await;
        assert_eq!(res.status, StatusCode::CREATED, "signup: {}", res.body);
        let auth: AuthResponse = res.json().expect("an auth response");
        TestUser {
            token: auth.token.clone(),
            auth,
        }
    }

    pub async fn create_room(&self, user: &TestUser, name: &str) -> Room {
        let res = self
            .post("/api/rooms", &user.token, json!({ "name": name }))
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "create room: {}", res.body);
        res.json().expect("a room")
    }

    /// A private room `name` that `owner` made (and is the only member of).
    pub async fn create_private_room(&self, owner: &TestUser, name: &str) -> Room {
        let res = self
            .post(
                "/api/rooms",
                &owner.token,
                json!({ "name": name, "private": true }),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "create room: {}", res.body);
        res.json().expect("a room")
    }

    /// `by` adds `username` to `room`.
    pub async fn add_member(&self, by: &TestUser, room: RoomId, username: &str) -> Answer {
        self.post(
            &format!("/api/rooms/{room}/members"),
            &by.token,
            json!({ "username": username }),
        )
        .await
    }

    pub async fn open_dm(&self, user: &TestUser, peer: &str) -> Answer {
        self.post("/api/dms", &user.token, json!({ "username": peer }))
            .await
    }

    /// `POST /api/dms {"usernames"}`: the group conversation of `user` and `others`.
    pub async fn open_group(&self, user: &TestUser, others: &[&str]) -> Answer {
        self.post("/api/dms", &user.token, json!({ "usernames": others }))
            .await
    }

    pub async fn send(&self, user: &TestUser, room: RoomId, body: &str) -> Message {
        let res = self.post_message(user, room, json!({ "body": body })).await;
        assert_eq!(res.status, StatusCode::CREATED, "post: {}", res.body);
        res.json().expect("a message")
    }

    pub async fn post_message(&self, user: &TestUser, room: RoomId, body: Value) -> Answer {
        self.post(&format!("/api/rooms/{room}/messages"), &user.token, body)
            .await
    }

    /// `PATCH /api/rooms/{room}/messages/{id} {"body"}` as `user`.
    pub async fn edit(&self, user: &TestUser, room: RoomId, id: MessageId, body: &str) -> Answer {
        self.request(
            Method::PATCH,
            &format!("/api/rooms/{room}/messages/{id}"),
            Some(&user.token),
            Some(&json!({ "body": body })),
        )
        .await
    }

    /// `DELETE /api/rooms/{room}/messages/{id}` as `user`.
    pub async fn delete_message(&self, user: &TestUser, room: RoomId, id: MessageId) -> Answer {
        self.request(
            Method::DELETE,
            &format!("/api/rooms/{room}/messages/{id}"),
            Some(&user.token),
            None,
        )
        .await
    }

    pub async fn history(&self, user: &TestUser, room: RoomId, query: &str) -> Vec<Message> {
        let res = self
            .get(&format!("/api/rooms/{room}/messages{query}"), &user.token)
            .await;
        assert_eq!(res.status, StatusCode::OK, "history: {}", res.body);
        res.json().expect("messages")
    }
}

impl TestApp {
    /// Every message of a room, oldest first, read back a page at a time.
    pub async fn all_history(&self, user: &TestUser, room: RoomId) -> Vec<Message> {
        all_history_at(&self.addr, &user.token, room)
            .await
            .expect("the history is readable")
    }

    /// alice, bob and a room "general" that alice made.
    pub async fn two_users_in_a_room(&self) -> (TestUser, TestUser, Room) {
        let alice = self.user("alice").await;
        let bob = self.user("bob").await;
        let room = self.create_room(&alice, "general").await;
        (alice, bob, room)
    }
}

pub async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status();
    let text = res.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"))
    };
    Answer { status, body }
}

/// Every message of a room on the server at `base` (`http://host:port`), oldest first, read
/// back a page at a time.
pub async fn all_history_at(
    base: &str,
    token: &str,
    room: RoomId,
) -> reqwest::Result<Vec<Message>> {
    let client = reqwest::Client::new();
    let mut all = Vec::new();
    let mut before = String::new();
    loop {
        let page: Vec<Message> = client
            .get(format!(
                "{base}/api/rooms/{room}/messages?limit=100{before}"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let Some(oldest) = page.first() else {
            return Ok(all);
        };
        before = format!("&before={}", oldest.id);
        all.splice(0..0, page);
    }
}
