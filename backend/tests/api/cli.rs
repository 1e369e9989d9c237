use crate::helpers::{PASSWORD, TestApp, TestResult};
use natter::config::DatabaseUrl;
use natter_shared::AuthResponse;
use natter_shared::ws::close;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn natter(db: &Path, args: &[&str], stdin: &str) -> std::io::Result<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(args)
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("NATTER_BCRYPT_COST", "4")
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    child.wait_with_output()
}

#[actix_web::test]
async fn migrate_creates_the_database_and_its_folder() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("nested/folder/natter.db");
    let out = natter(&db, &["migrate"], "")?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file());
    // Running it again is a no-op.
    assert!(natter(&db, &["migrate"], "")?.status.success());
    Ok(())
}

#[actix_web::test]
async fn create_admin_makes_an_admin_who_can_log_in() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("natter.db");
    let out = natter(
        &db,
        &["create-admin", "root.admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let app = TestApp::spawn_with(|s| s.database_url = DatabaseUrl::Sqlite(db.clone())).await;
    let res = app.login_as("root.admin", PASSWORD).await;
    let auth: AuthResponse = res.json()?;
    assert!(auth.user.is_admin);

    // A second admin of that name is refused, with the reason.
    let again = natter(
        &db,
        &["create-admin", "ROOT.admin", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("taken"));
    Ok(())
}

#[actix_web::test]
async fn create_admin_refuses_broken_rules() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("natter.db");
    let short = natter(
        &db,
        &["create-admin", "root", "--password-stdin"],
        "short\n",
    )?;
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("8 to 72 bytes"));
    let bot = natter(
        &db,
        &["create-admin", "natterbot", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    )?;
    assert!(!bot.status.success());
    assert!(String::from_utf8_lossy(&bot.stderr).contains("reserved"));
    Ok(())
}

#[actix_web::test]
async fn a_bad_database_url_says_what_to_write() -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_natter"))
        .args(["migrate"])
        .env("DATABASE_URL", "mysql://nope")
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite://PATH"));
    Ok(())
}

/// `natter serve` as a child process, with the address it printed.
pub struct Served {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for Served {
    /// A test that fails midway leaves no server behind (nor one stopped with SIGSTOP).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `natter serve` on the SQLite file `db` with extra environment `env`.
pub fn serve(db: &Path, env: &[(&str, &str)]) -> std::io::Result<Served> {
    let url = format!("sqlite://{}", db.display());
    let mut all = vec![("DATABASE_URL", url.as_str())];
    all.extend_from_slice(env);
    serve_with(&all)
}

/// Starts `natter serve` with the environment `env`, which names the database.
pub fn serve_with(env: &[(&str, &str)]) -> std::io::Result<Served> {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_natter"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("NATTER_ADDR", "127.0.0.1:0")
        .env("NATTER_BCRYPT_COST", "4")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[natter serve] {line}");
            }
            if let Some(addr) = line.split("listening on http://").nth(1) {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(crate::ws_client::WAIT)
        .expect("the server says where it listens");
    Ok(Served { child, addr })
}

#[actix_web::test]
async fn sigterm_closes_sockets_with_1001_and_exits_cleanly() -> TestResult {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let dir = tempfile::tempdir()?;
    let mut served = serve(&dir.path().join("natter.db"), &[])?;
    let client = reqwest::Client::new();
    let auth: AuthResponse = client
        .post(format!("http://{}/api/auth/signup", served.addr))
        .json(&serde_json::json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let url = format!("ws://{}/ws?token={}", served.addr, auth.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let ready = tokio::time::timeout(crate::ws_client::WAIT, ws.next()).await?;
    assert!(matches!(ready, Some(Ok(Message::Text(_)))));

    let pid = served.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()?
            .success()
    );
    let close = loop {
        match tokio::time::timeout(crate::ws_client::WAIT, ws.next()).await? {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(close::GOING_AWAY));
    let status = tokio::task::spawn_blocking(move || served.child.wait()).await??;
    assert!(status.success(), "{status}");
    Ok(())
}
