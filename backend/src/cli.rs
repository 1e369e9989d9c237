//! The `natter` command line: `serve`, `migrate` and `create-admin`.

use crate::auth::Auth;
use crate::config::Settings;
use crate::db::Database;
use crate::db::users;
use crate::startup::Application;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use natter_shared::{Password, Username};
use std::io::BufRead;

#[derive(Debug, Parser)]
#[command(name = "natter", version, about = "Natter: real-time chat server")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP and WebSocket server (applies pending migrations first).
    Serve {
        /// Do not run the job worker in this process (run `natter worker` instead).
        #[arg(long)]
        no_worker: bool,
    },
    /// Run only the job worker (`/sms`), against the same database as the server.
    Worker,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create an admin user; prompts for the password unless --password-stdin.
    CreateAdmin {
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { no_worker } => {
            let mut settings = cli.settings;
            settings.run_worker = !no_worker;
            let app = Application::build(settings).await?;
            app.run_until_signalled().await?;
            Ok(())
        }
        Command::Worker => run_worker(cli.settings).await,
        Command::Migrate => {
            let db = Database::open(&cli.settings.database_url)?;
            tracing::info!(database = %db.url(), "database is up to date");
            Ok(())
        }
        Command::CreateAdmin {
            username,
            password_stdin,
        } => create_admin(&cli.settings, &username, password_stdin),
    }
}

fn create_admin(settings: &Settings, username: &str, password_stdin: bool) -> anyhow::Result<()> {
    let username = Username::parse_for_signup(username).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!("Password for {username}: "))
            .context("cannot prompt for a password: use --password-stdin")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the passwords differ; nothing was created");
        }
        first
    };
    let password = Password::parse(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    make_admin(settings, &username, &password)?;
    Ok(())
}

/// Creates an admin account in the database of `settings`.
pub fn make_admin(
    settings: &Settings,
    username: &Username,
    password: &Password,
) -> anyhow::Result<users::UserRow> {
    let db = Database::open(&settings.database_url)?;
    // Only the hash is needed here, never a token: any secret will do.
    let auth = Auth::new(&[0; 32], settings.bcrypt_cost)?;
    let hash = auth.hash_password_blocking(password.expose())?;
    let row = db.run_blocking(|conn| users::create(conn, username, &hash, true))?;
    tracing::info!(user_id = row.id, username = %row.username, "admin created");
    Ok(row)
}

/// `natter worker`: the job worker alone, until SIGINT or SIGTERM.
async fn run_worker(settings: Settings) -> anyhow::Result<()> {
    use std::sync::Arc;
    let metrics = Arc::new(crate::metrics::Metrics::new()?);
    // No sockets here. With other nodes, the bot's reports reach their sockets at once,
    // not at their next database poll.
    let out: Arc<dyn crate::db::writer::Publish> = match &settings.redis_url {
        Some(url) => Arc::new(crate::realtime::cluster::Announcer::start(
            url,
            &settings.redis_prefix,
        )?),
        None => Arc::new(crate::db::writer::Nowhere),
    };
    let storage = crate::startup::open_storage(&settings, out, metrics.clone(), false).await?;
    let worker = crate::worker::Worker::new(&settings, storage, metrics, Default::default())?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let running = actix_web::rt::spawn(worker.run(stop_rx));
    crate::startup::wait_for_signal().await;
    tracing::info!("stopping the worker after the job in hand");
    let _ = stop.send(true);
    running.await?;
    Ok(())
}
