//! Building and running the server: `Application::build` binds the listener (port 0 works, for
//! tests) and wires state, routes and middleware.

use crate::auth::{Auth, load_or_create_secret};
use crate::config::{DatabaseUrl, Settings};
use crate::db::writer::{MessageWriter, Publish};
use crate::db::{Concurrency, Database};
use crate::error::ApiError;
use crate::realtime::{self, Hub};
use crate::room_lists::RoomLists;
use crate::telemetry::RequestSpans;
use crate::worker::Worker;
use crate::{AppState, api, security, web_app};
use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use diesel::RunQueryDsl;
use natter_shared::limits::BOT_USERNAME;
use natter_shared::{Health, UserId};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;

pub struct Application {
    addr: SocketAddr,
    server: Server,
    hub: Hub,
    writer: MessageWriter,
    worker_stop: watch::Sender<bool>,
    worker: SharedWorker,
}

type SharedWorker = Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>;

/// Stops a running server gracefully: sockets are closed with 1001 (going away), requests
/// in progress finish, and the message writer commits what it holds.
#[derive(Clone)]
pub struct Stopper {
    server: ServerHandle,
    hub: Hub,
    writer: MessageWriter,
    worker_stop: watch::Sender<bool>,
    worker: SharedWorker,
}

impl Stopper {
    /// How many WebSocket sessions are open on this server.
    pub fn sessions(&self) -> usize {
        self.hub.sessions()
    }

    pub async fn stop(&self) {
        tracing::info!(sessions = self.hub.sessions(), "shutting down");
        self.hub.shutdown_sessions();
        self.server.stop(true).await;
        // Other nodes take this node's users offline now, not when its heartbeat runs out.
        self.hub.leave_cluster().await;
        // The worker finishes the job in hand; jobs not started stay queued.
        let _ = self.worker_stop.send(true);
        if let Some(worker) = self.worker.lock().await.take() {
            let _ = worker.await;
        }
        self.writer.close();
    }
}

/// Every socket is an open file: the common soft limit of 1,024 would let a few hundred idle
/// sockets stop new visitors. Raised to the hard limit at start, and said in the log.
fn raise_open_files_limit() {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => tracing::info!(before = before.ok(), now, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit (RLIMIT_NOFILE)"),
    }
}

impl Application {
    /// Opens and migrates the database, loads the token secret and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        raise_open_files_limit();
        let metrics = Arc::new(crate::metrics::Metrics::new()?);
        // Room lists are kept where every change is heard: see the room_lists module.
        let lists = RoomLists::new(match settings.database_url {
            DatabaseUrl::Sqlite(_) => true,
            DatabaseUrl::Postgres(_) => settings.redis_url.is_some(),
        });
        let hub = Hub::new(
            settings.room_buffer as usize,
            settings.worker_threads(),
            metrics.clone(),
            lists,
        );
        let state = web::Data::new(open_state(settings, hub.clone(), metrics).await?);
        join_cluster(&state)?;
        let listener = TcpListener::bind(state.settings.addr)
            .with_context(|| format!("cannot listen on {}", state.settings.addr))?;
        let addr = listener.local_addr()?;
        let workers = state.settings.worker_threads();
        let writer = state.writer.clone();
        let static_dir = web_app::built_app(&state.settings.static_dir);
        let client_timeout = Duration::from_millis(state.settings.client_timeout_ms);
        let worker = match state.settings.run_worker {
            true => Some(Worker::for_state(&state)?),
            false => None,
        };
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(security::cors))
                .wrap(security::default_headers())
                .wrap(api::json_errors())
                .wrap(TracingLogger::<RequestSpans>::new())
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(crate::metrics::track))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(crate::metrics::expose))
                .route("/ws", web::get().to(realtime::route))
                .configure(api::routes)
                .configure(|cfg| web_app::routes(cfg, static_dir.as_ref()))
        })
        .workers(workers)
        // A small frame (an ack after a message) must not wait for the client's delayed ACK.
        .tcp_nodelay(true)
        .on_connect(move |conn, _| cut_off_when_unread(conn, client_timeout))
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        let (worker_stop, stop_rx) = watch::channel(false);
        let worker = worker.map(|w| actix_web::rt::spawn(w.run(stop_rx)));
        Ok(Self {
            addr,
            server,
            hub,
            writer,
            worker_stop,
            worker: Arc::new(tokio::sync::Mutex::new(worker)),
        })
    }

    /// A handle that stops this server as SIGTERM does; for tests and embedding.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            server: self.server.handle(),
            hub: self.hub.clone(),
            writer: self.writer.clone(),
            worker_stop: self.worker_stop.clone(),
            worker: self.worker.clone(),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until stopped by its [`Stopper`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!("listening on http://{}", self.addr);
        self.server.await
    }

    /// Serves until the process gets SIGINT or SIGTERM, then stops gracefully.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        let stopping = actix_web::rt::spawn(async move {
            wait_for_signal().await;
            stopper.stop().await;
        });
        self.run_until_stopped().await?;
        // The server stops first; the rest of the stop (the goodbye to other nodes, the job
        // in hand) must finish before the process ends.
        let _ = stopping.await;
        Ok(())
    }
}

/// The database, opened and migrated, and the message writer that hands what it commits to
/// `out`: with `deliver`, this process has sockets and also delivers the messages other
/// processes store. Made off the async executor (migrations block).
pub async fn open_storage(
    settings: &Settings,
    out: Arc<dyn Publish>,
    metrics: Arc<crate::metrics::Metrics>,
    deliver: bool,
) -> anyhow::Result<Storage> {
    let settings = settings.clone();
    web::block(move || {
        let db = Database::open_with(
            &settings.database_url,
            Concurrency {
                connections: settings.db_connections,
                searches: settings.db_searches,
            },
        )?;
        let poll = match deliver {
            true => Some((
                db.connector(),
                Duration::from_millis(settings.tail_poll_ms.max(1)),
            )),
            false => None,
        };
        let lock_timeout = Duration::from_millis(settings.write_lock_timeout_ms);
        let writer = MessageWriter::spawn(
            db.writer_connector(lock_timeout),
            db.guard(),
            out,
            metrics,
            poll,
        )?;
        let bot_id = db
            .run_blocking(|conn| Ok(crate::db::users::find_by_key(conn, BOT_USERNAME)?))?
            .map(|row| UserId(row.id))
            .context("the chat bot's user is missing from the database")?;
        Ok(Storage { db, writer, bot_id })
    })
    .await
    .context("startup was interrupted")?
}

/// What [`open_storage`] opens.
pub struct Storage {
    pub db: Database,
    pub writer: MessageWriter,
    /// The chat bot's user id.
    pub bot_id: UserId,
}

/// Everything the handlers share: storage delivering to `hub`, tokens, limits.
pub async fn open_state(
    settings: Settings,
    hub: Hub,
    metrics: Arc<crate::metrics::Metrics>,
) -> anyhow::Result<AppState> {
    let Storage { db, writer, bot_id } =
        open_storage(&settings, Arc::new(hub.clone()), metrics.clone(), true).await?;
    web::block(move || {
        let secret = load_or_create_secret(
            settings.jwt_secret.as_deref(),
            settings.data_dir().as_deref(),
        )?;
        let auth = Auth::new(&secret, settings.bcrypt_cost)?;
        let limits = crate::limiter::Limits::new(&settings);
        let markers = crate::reads::Markers::spawn(db.clone(), hub.clone())?;
        let upload_dir = settings.upload_dir();
        let files = crate::files::Files::open(&upload_dir).with_context(|| {
            format!(
                "cannot use the upload folder {}: make it writable, or choose another with --upload-dir",
                upload_dir.display()
            )
        })?;
        Ok(AppState {
            settings,
            db,
            writer,
            auth,
            hub,
            metrics,
            limits,
            bot_id,
            jobs_wake: Default::default(),
            markers,
            files,
        })
    })
    .await
    .context("startup was interrupted")?
}

/// With `REDIS_URL`, starts relaying events to and from the other nodes.
pub fn join_cluster(state: &AppState) -> anyhow::Result<()> {
    if let Some(url) = &state.settings.redis_url {
        realtime::cluster::start(
            url,
            &state.settings.redis_prefix,
            state.hub.clone(),
            state.writer.feed(),
        )?;
    }
    Ok(())
}

/// Ready for traffic: a message sent now would be stored and delivered. 503 with the reasons
/// otherwise (the writer cannot reach the database, its last batch or probe failed on a full
/// disk or a lock, the tail poller is down, the database does not answer), so that a load
/// balancer sends new clients elsewhere; 200 again by itself once the writer's probe succeeds.
async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    let problems = state.writer.problems();
    if !problems.is_empty() {
        return Err(ApiError::new(
            natter_shared::ErrorKind::StorageUnavailable,
            format!("not ready: {}", problems.join("; ")),
        ));
    }
    healthz(state).await
}

/// 200 when the server is up and its database answers; 503 otherwise.
async fn healthz(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    state
        .db
        .run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
        .map_err(|e| ApiError::unavailable(anyhow::anyhow!("health check: {e}")))?;
    Ok(web::Json(Health {
        status: "ok".into(),
        database: "ok".into(),
    }))
}

pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Asks the kernel to drop a connection whose peer leaves what we send unacknowledged (and so
/// unread: a zero window counts) for longer than `timeout`. A session whose client has stopped
/// reading stops being scheduled once the socket is full, so it cannot time itself out; this
/// ends it, its actor stops, and it leaves every room's presence.
fn cut_off_when_unread(conn: &dyn std::any::Any, timeout: Duration) {
    if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(e) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timeout))
    {
        tracing::warn!(error = %e, "cannot set TCP_USER_TIMEOUT");
    }
}
