//! Building and running the server: `Application::build` binds the listener (port 0 works, for
//! tests) and wires state, routes and middleware.

use crate::auth::{Auth, load_or_create_secret};
use crate::config::Settings;
use crate::db::Database;
use crate::db::writer::MessageWriter;
use crate::error::ApiError;
use crate::{AppState, api, web_app};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use diesel::RunQueryDsl;
use natter_shared::Health;
use std::net::{SocketAddr, TcpListener};
use tracing_actix_web::TracingLogger;

pub struct Application {
    addr: SocketAddr,
    server: Server,
}

impl Application {
    /// Opens and migrates the database, loads the token secret and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = web::Data::new(open_state(settings).await?);
        let listener = TcpListener::bind(state.settings.addr)
            .with_context(|| format!("cannot listen on {}", state.settings.addr))?;
        let addr = listener.local_addr()?;
        let workers = match state.settings.workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let static_dir = web_app::built_app(&state.settings.static_dir);
        let server = HttpServer::new(move || {
            App::new()
                .wrap(api::json_errors())
                .wrap(TracingLogger::default())
                .app_data(state.clone())
                .route("/healthz", web::get().to(healthz))
                .configure(api::routes)
                .configure(|cfg| web_app::routes(cfg, static_dir.as_deref()))
        })
        .workers(workers)
        .listen(listener)?
        .run();
        Ok(Self { addr, server })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process gets SIGINT or SIGTERM, then drains open requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!("listening on http://{}", self.addr);
        self.server.await
    }
}

/// Everything the handlers share, made off the async executor (migrations and bcrypt block).
pub async fn open_state(settings: Settings) -> anyhow::Result<AppState> {
    web::block(move || {
        let db = Database::open(&settings.database_url)?;
        let secret = load_or_create_secret(settings.jwt_secret.as_deref(), &settings.data_dir())?;
        let auth = Auth::new(&secret, settings.bcrypt_cost)?;
        let writer = MessageWriter::spawn(db.dedicated_connection()?)?;
        Ok(AppState {
            settings,
            db,
            writer,
            auth,
        })
    })
    .await
    .context("startup was interrupted")?
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
