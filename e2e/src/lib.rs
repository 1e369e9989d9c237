//! Drives the built web app in headless Chromium against a real Natter server.
//!
//! - [`Server`]: `natter serve` in this process, on a fresh SQLite file, serving
//!   `frontend/dist`; it can be stopped and started again on the same port.
//! - [`Driver`]: one chromedriver process; each [`Browser`] it opens is its own Chromium
//!   with its own profile (so its own `localStorage`, like another person's machine).
//!
//! Every wait has a deadline and polls the page; nothing sleeps for a fixed time.

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use natter::config::{DatabaseUrl, RateLimit, Settings};
use natter::startup::{Application, Stopper};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long any one thing may take to show in the page.
pub const PATIENCE: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// The built web app, which the server serves.
pub fn dist_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../frontend/dist");
    if !dir.join("index.html").is_file() {
        bail!(
            "the web app is not built: run `trunk build --release` at the top of the \
             repository first (scripts/test does)"
        );
    }
    Ok(dir)
}

pub struct Server {
    pub port: u16,
    settings: Settings,
    stopper: Option<Stopper>,
    _dir: TempDir,
}

impl Server {
    /// Starts a server on a free port. Needs a running actix system (`#[actix_web::test]`).
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server whose settings `change` alters first.
    pub async fn start_with(change: impl FnOnce(&mut Settings)) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut settings =
            Settings::with_database(DatabaseUrl::Sqlite(dir.path().join("natter.db")));
        settings.addr = "127.0.0.1:0".parse()?;
        settings.bcrypt_cost = 4;
        settings.workers = 2;
        settings.rate_limit = RateLimit::OFF;
        settings.static_dir = dist_dir()?;
        change(&mut settings);
        let mut server = Self {
            port: 0,
            settings,
            stopper: None,
            _dir: dir,
        };
        server.run().await?;
        Ok(server)
    }

    async fn run(&mut self) -> Result<()> {
        let app = Application::build(self.settings.clone()).await?;
        self.port = app.port();
        // A restart comes back on the same port, where the pages reconnect.
        self.settings.addr = app.addr();
        self.stopper = Some(app.stopper());
        actix_web::rt::spawn(app.run_until_stopped());
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server (sockets get close 1001) and waits until it has let go of the port.
    pub async fn stop(&mut self) {
        if let Some(stopper) = self.stopper.take() {
            stopper.stop().await;
        }
    }

    /// Starts it again on the same port and database; `change` may alter the settings first.
    pub async fn start_again(&mut self, change: impl FnOnce(&mut Settings)) -> Result<()> {
        self.stop().await;
        change(&mut self.settings);
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.run().await {
                Ok(()) => return Ok(()),
                Err(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// Runs `f` against a second server on another port, sharing this one's database and
    /// secret, then stops it: how messages get sent while this one is down.
    pub async fn with_sibling<F, Fut, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut settings = self.settings.clone();
        settings.addr = "127.0.0.1:0".parse()?;
        let app = Application::build(settings).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let stopper = app.stopper();
        actix_web::rt::spawn(app.run_until_stopped());
        let out = f(base).await;
        stopper.stop().await;
        out
    }

    /// Makes an admin the way `natter create-admin` does.
    pub fn make_admin(&self, username: &str, password: &str) -> Result<()> {
        let name = natter_shared::Username::parse(username).map_err(|e| anyhow::anyhow!("{e}"))?;
        let password =
            natter_shared::Password::parse(password).map_err(|e| anyhow::anyhow!("{e}"))?;
        natter::cli::make_admin(&self.settings, &name, &password)?;
        Ok(())
    }

    /// Signs up over REST, for tests that need a user without clicking through the form.
    pub async fn sign_up(&self, username: &str, password: &str) -> Result<String> {
        let res = reqwest::Client::new()
            .post(self.url("/api/auth/signup"))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await?;
        let body: serde_json::Value = res.error_for_status()?.json().await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .context("no token in the signup answer")
    }

    /// The last code the log provider sent to `phone`, once the worker has sent it.
    pub async fn sms_code(&self, phone: &str) -> Result<String> {
        let db = natter::db::Database::open(&self.settings.database_url)?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let outbox = db.run_blocking(|conn| Ok(natter::db::jobs::outbox(conn)?))?;
            let code = outbox
                .iter()
                .rev()
                .filter(|(_, to, _)| to == phone)
                .find_map(|(_, _, body)| {
                    body.split(|c: char| !c.is_ascii_digit())
                        .find(|w| w.len() == 6)
                        .map(str::to_owned)
                });
            if let Some(code) = code {
                return Ok(code);
            }
            anyhow::ensure!(Instant::now() < deadline, "no code was sent to {phone}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Creates a public room over REST; its id.
    pub async fn create_room(&self, token: &str, name: &str) -> Result<i64> {
        let res = reqwest::Client::new()
            .post(self.url("/api/rooms"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await?;
        let body: serde_json::Value = res.error_for_status()?.json().await?;
        body["id"].as_i64().context("no id in the room")
    }

    /// Adds `username` to room `room` over REST.
    pub async fn add_member(&self, token: &str, room: i64, username: &str) -> Result<()> {
        reqwest::Client::new()
            .post(self.url(&format!("/api/rooms/{room}/members")))
            .bearer_auth(token)
            .json(&serde_json::json!({ "username": username }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The names of the rooms the token's user is a member of (the first page), over REST.
    pub async fn room_names(&self, token: &str) -> Result<Vec<String>> {
        let res = reqwest::Client::new()
            .get(self.url("/api/rooms"))
            .bearer_auth(token)
            .send()
            .await?;
        let rooms: Vec<natter_shared::Room> = res.error_for_status()?.json().await?;
        Ok(rooms.into_iter().map(|r| r.name).collect())
    }

    /// The bodies of a room's latest messages (up to 100), oldest first, over REST.
    pub async fn bodies(&self, token: &str, room: i64) -> Result<Vec<String>> {
        let res = reqwest::Client::new()
            .get(self.url(&format!("/api/rooms/{room}/messages?limit=100")))
            .bearer_auth(token)
            .send()
            .await?;
        let page: Vec<natter_shared::Message> = res.error_for_status()?.json().await?;
        Ok(page.into_iter().map(|m| m.body).collect())
    }

    /// Posts a message over REST to the server at `base`.
    pub async fn post(base: &str, token: &str, room: i64, body: &str) -> Result<()> {
        reqwest::Client::new()
            .post(format!("{base}/api/rooms/{room}/messages"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "body": body }))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// A chromedriver process, stopped on drop.
pub struct Driver {
    port: u16,
    child: Child,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Driver {
    pub async fn start() -> Result<Self> {
        let exe = find_on_path(&["chromedriver"]).context(
            "chromedriver is not on PATH: run scripts/setup (it installs chromium and chromium-driver)",
        )?;
        let port = free_port()?;
        // Its own process group, which the browsers it starts inherit: dropping the driver
        // kills the whole group, so no Chromium outlives a test, failed or not.
        let child = Command::new(exe)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let driver = Self { port, child };
        let deadline = Instant::now() + PATIENCE;
        let status = format!("http://127.0.0.1:{port}/status");
        while reqwest::get(&status).await.is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not answer on port {port}");
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(driver)
    }

    /// Slows `page`'s network down to `latency_ms` each way and `bits_per_second` both
    /// ways (chromedriver's network conditions), as a slow mobile link would.
    pub async fn throttle(
        &self,
        page: &Browser,
        latency_ms: u32,
        bits_per_second: u32,
    ) -> Result<()> {
        let session = page.client.session_id().await?.context("no session")?;
        let bytes = bits_per_second / 8;
        reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/session/{session}/chromium/network_conditions",
                self.port
            ))
            .json(&serde_json::json!({ "network_conditions": {
                "offline": false,
                "latency": latency_ms,
                "download_throughput": bytes,
                "upload_throughput": bytes,
            }}))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Runs a Chrome DevTools Protocol command in `page` (through chromedriver) and gives
    /// its result: for what WebDriver has no command for, such as a CPU profile.
    pub async fn cdp(
        &self,
        page: &Browser,
        command: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let session = page.client.session_id().await?.context("no session")?;
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!(
                "http://127.0.0.1:{}/session/{session}/goog/cdp/execute",
                self.port
            ))
            .json(&serde_json::json!({ "cmd": command, "params": params }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer["value"].clone())
    }

    /// A new browser window of `width` x `height`, in a profile of its own.
    pub async fn browser(&self, width: u32, height: u32) -> Result<Browser> {
        let profile = tempfile::tempdir()?;
        let chromium = std::env::var_os("CHROME_BIN")
            .map(PathBuf::from)
            .or_else(|| find_on_path(&["chromium", "chromium-browser", "google-chrome"]))
            .context("no chromium on PATH: run scripts/setup, or set CHROME_BIN")?;
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            bail!("capabilities are an object");
        };
        // chromedriver is on loopback: plain HTTP, no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .context("chromedriver could not start chromium")?;
        client.set_window_size(width, height).await?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        if !killed.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

pub struct Browser {
    pub client: Client,
    _profile: TempDir,
}

impl Browser {
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// The texts of every element matching `css`.
    pub async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for el in self.client.find_all(Locator::Css(css)).await? {
            // An element may go away between finding and reading it.
            if let Ok(text) = el.text().await {
                out.push(text);
            }
        }
        Ok(out)
    }

    /// Waits until some element matching `css` has `text` in it.
    pub async fn wait_text(&self, css: &str, text: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let texts = self.texts(css).await?;
            if texts.iter().any(|t| t.contains(text)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("no `{css}` says {text:?} within {PATIENCE:?}; seen: {texts:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until no element matches `css`.
    pub async fn wait_gone(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let texts = self.texts(css).await?;
            if texts.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("`{css}` still shows {texts:?} after {PATIENCE:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Reloads the page.
    pub async fn reload(&self) -> Result<()> {
        self.client.refresh().await?;
        Ok(())
    }

    /// Waits until an element matches `css`.
    pub async fn wait_for(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no `{css}` within {PATIENCE:?}"))
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.wait_for(css).await?.click().await?;
        Ok(())
    }

    /// Runs axe-core on the page as it is now; the serious and critical violations, each as
    /// "rule: what, at where".
    pub async fn accessibility_problems(&self) -> Result<Vec<String>> {
        let axe = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/tools/node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe)
            .with_context(|| format!("reading {}: run scripts/setup", axe.display()))?;
        self.client.execute(&source, vec![]).await?;
        let found = self
            .client
            .execute_async(
                "const done = arguments[0];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.help + ', at ' +
                          v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await?;
        Ok(serde_json::from_value(found)?)
    }

    /// Opens the actions menu of the message whose text is `body` and chooses `action`
    /// (`reply`, `react`, `edit` or `delete`).
    pub async fn act(&self, body: &str, action: &str) -> Result<()> {
        self.wait_message(body).await?;
        let opened = self
            .client
            .execute(
                "const li = [...document.querySelectorAll('#message-list li.message')]
                     .find(li => li.querySelector('.body')?.textContent === arguments[0]);
                 const button = li?.querySelector('.menu-button');
                 button?.click();
                 return !!button;",
                vec![serde_json::json!(body)],
            )
            .await?;
        anyhow::ensure!(opened == serde_json::json!(true), "no actions for {body:?}");
        self.click(&format!(".message-menu button.{action}")).await
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.wait_for(css).await?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    /// Fills the sign-in form (in sign-up mode with `sign_up`) and waits for the socket.
    pub async fn enter(
        &self,
        base: &str,
        username: &str,
        password: &str,
        sign_up: bool,
    ) -> Result<()> {
        self.goto(base).await?;
        if sign_up {
            self.click(".tabs button:nth-child(2)").await?;
        }
        self.type_into("#username", username).await?;
        self.type_into("#password", password).await?;
        self.click("#submit").await?;
        self.wait_online().await
    }

    /// Waits until the socket is up (also where the sidebar is hidden, on a phone).
    pub async fn wait_online(&self) -> Result<()> {
        self.wait_for("#link-state[data-link='online']")
            .await
            .map(drop)
    }

    /// Types a message into the composer and presses Enter.
    pub async fn say(&self, text: &str) -> Result<()> {
        let el = self.wait_for("#composer-input").await?;
        el.send_keys(text).await?;
        el.send_keys(&Key::Enter).await?;
        Ok(())
    }

    /// The bodies of the messages shown, in order.
    pub async fn bodies(&self) -> Result<Vec<String>> {
        self.texts("#message-list .message .body").await
    }

    /// Waits until the message list shows a message whose body is exactly `body`.
    pub async fn wait_message(&self, body: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let bodies = self.bodies().await?;
            if bodies.iter().any(|b| b == body) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("no message {body:?} within {PATIENCE:?}; shown: {bodies:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the page's path is `path`.
    pub async fn wait_path(&self, path: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = self.client.current_url().await?;
            if url.path() == path {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the page stayed at {url}, not {path}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn close(self) -> Result<()> {
        self.client.close().await?;
        Ok(())
    }
}
