//! `TestApp`: the real server on port 0 over a fresh SQLite file, and typed REST helpers.

use natter::config::{DatabaseUrl, RateLimit, Settings};
use natter::startup::Application;
use natter_shared::{AuthResponse, ErrorBody, ErrorKind, Message, Room, RoomId};
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
    pub dir: TempDir,
    pub stopper: natter::startup::Stopper,
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
        if std::env::var_os("TEST_LOG").is_some() {
            natter::telemetry::init("debug");
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut settings =
            Settings::with_database(DatabaseUrl::Sqlite(dir.path().join("natter.db")));
        settings.addr = "127.0.0.1:0".parse().expect("an address");
        settings.bcrypt_cost = 4;
        settings.workers = 2;
        settings.rate_limit = RateLimit::OFF;
        settings.static_dir = dir.path().join("no-app");
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
            dir,
            stopper,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("natter.db")
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
        let mut settings = Settings::with_database(DatabaseUrl::Sqlite(self.db_path()));
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

    pub async fn open_dm(&self, user: &TestUser, peer: &str) -> Answer {
        self.post("/api/dms", &user.token, json!({ "username": peer }))
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
