//! Settings: one typed struct, read from flags with environment fallbacks.

use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/natter.db";
pub const DEFAULT_STATIC_DIR: &str = "frontend/dist";
pub const DEFAULT_BCRYPT_COST: u32 = 12;
pub const DEFAULT_RATE_LIMIT: &str = "10/30";
pub const DEFAULT_HEARTBEAT_MS: u64 = 5_000;
pub const DEFAULT_CLIENT_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_AUTH_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_ROOM_BUFFER: u32 = 4096;
pub const DEFAULT_SMS_RATE_LIMIT: &str = "0.1/3";
const DEFAULT_LOGIN_RATE_LIMIT: &str = "0.1/5";
const DEFAULT_LOGIN_NAME_RATE_LIMIT: &str = "2/100";
const DEFAULT_LOGIN_ADDR_RATE_LIMIT: &str = "1/20";
const DEFAULT_SIGNUP_RATE_LIMIT: &str = "0.01/5";
const DEFAULT_CREATE_RATE_LIMIT: &str = "0.1/10";
const DEFAULT_READ_RATE_LIMIT: &str = "20/100";
const DEFAULT_SEARCH_RATE_LIMIT: &str = "2/20";
const DEFAULT_UPLOAD_RATE_LIMIT: &str = "0.5/20";
/// 25 MB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 25_000_000;
/// 1 GB.
pub const DEFAULT_UPLOAD_QUOTA_BYTES: u64 = 1_000_000_000;
const DEFAULT_MEMBER_RATE_LIMIT: &str = "1/30";
pub const DEFAULT_MAX_MEMBERSHIPS_PER_USER: u32 = 1000;
pub const DEFAULT_MAX_ROOMS_PER_USER: u32 = 50;
pub const DEFAULT_MAX_DIRECT_PER_USER: u32 = 500;
pub const DEFAULT_MAX_SOCKETS_PER_USER: u32 = 20;
pub const DEFAULT_MAX_SOCKETS_PER_ADDR: u32 = 200;
pub const DEFAULT_MAX_ROOMS_PER_SOCKET: u32 = 100;
pub const DEFAULT_SMS_PER_RECIPIENT_PER_DAY: u32 = 3;
pub const DEFAULT_SMS_WEBHOOK_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_JOB_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_JOB_BACKOFF_MS: u64 = 2_000;
pub const DEFAULT_JOB_LEASE_MS: u64 = 60_000;
pub const DEFAULT_WORKER_POLL_MS: u64 = 1_000;
pub const DEFAULT_TAIL_POLL_MS: u64 = 250;
pub const DEFAULT_WRITE_LOCK_TIMEOUT_MS: u64 = 2_000;

/// Everything the server, the worker and the admin commands read from the outside.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "NATTER_ADDR", default_value = DEFAULT_ADDR, global = true)]
    pub addr: SocketAddr,

    /// Where the data lives: `sqlite://PATH` (the file and its folder are created) or
    /// `postgres://USER@HOST:PORT/DB` (the database must exist; several nodes may share it).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: DatabaseUrl,

    /// Folder of the built web app (Trunk's output), served at `/`.
    #[arg(long, env = "NATTER_STATIC_DIR", default_value = DEFAULT_STATIC_DIR, global = true)]
    pub static_dir: PathBuf,

    /// Secret that signs tokens. When unset, one is generated once and kept in the data
    /// folder (beside the SQLite file) as `jwt-secret`, readable by the owner alone.
    #[arg(long, env = "NATTER_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,

    /// bcrypt cost for new password hashes (4 to 31).
    #[arg(long, env = "NATTER_BCRYPT_COST", default_value_t = DEFAULT_BCRYPT_COST,
          value_parser = clap::value_parser!(u32).range(4..=31), global = true)]
    pub bcrypt_cost: u32,

    /// Messages per second per user, with a burst: `RATE/BURST` (e.g. `10/30`); `0` is off.
    #[arg(long, env = "NATTER_RATE_LIMIT", default_value = DEFAULT_RATE_LIMIT, global = true)]
    pub rate_limit: RateLimit,

    /// Redis for fan-out between several nodes; unset keeps fan-out in this process.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel, so that several deployments can share a Redis.
    #[arg(
        long,
        env = "NATTER_REDIS_PREFIX",
        default_value = "natter",
        global = true
    )]
    pub redis_prefix: String,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = "NATTER_WORKERS", default_value_t = 0, global = true)]
    pub workers: usize,

    /// Database calls at once, each on a pooled connection of its own; 0 means 16. Calls
    /// past it wait their turn in the order they came.
    #[arg(
        long,
        env = "NATTER_DB_CONNECTIONS",
        default_value_t = 0,
        global = true
    )]
    pub db_connections: u32,

    /// How many of those calls may be searches at once; 0 means twice the cores (at least 2,
    /// at most `--db-connections`). Searches past it wait their turn (BENCHMARKS, S8).
    #[arg(long, env = "NATTER_DB_SEARCHES", default_value_t = 0, global = true)]
    pub db_searches: u32,

    /// Origins (besides the server's own) whose pages may open a WebSocket, comma-separated,
    /// e.g. `http://127.0.0.1:8081` for `trunk serve`.
    #[arg(
        long,
        env = "NATTER_ALLOWED_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub allowed_origins: Vec<String>,

    /// Milliseconds between WebSocket pings.
    #[arg(
        long,
        env = "NATTER_HEARTBEAT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub heartbeat_ms: u64,

    /// Milliseconds of silence after which a WebSocket is closed as dead.
    #[arg(
        long,
        env = "NATTER_CLIENT_TIMEOUT_MS",
        default_value_t = 15_000,
        global = true
    )]
    pub client_timeout_ms: u64,

    /// Milliseconds a WebSocket without a token has to send its `auth` frame.
    #[arg(
        long,
        env = "NATTER_AUTH_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub auth_timeout_ms: u64,

    /// Events a room keeps at most for its slowest reader; a session that falls further
    /// behind catches up from the database. The buffer grows as events come and shrinks
    /// when every reader has them, so an idle room holds none.
    #[arg(long, env = "NATTER_ROOM_BUFFER", default_value_t = DEFAULT_ROOM_BUFFER,
          value_parser = clap::value_parser!(u32).range(16..), global = true)]
    pub room_buffer: u32,

    /// Where `/sms` goes: `log` (a log line and a row in the `sms_outbox` table) or `webhook`.
    #[arg(long, env = "NATTER_SMS_PROVIDER", value_enum, default_value_t = SmsProviderKind::Log, global = true)]
    pub sms_provider: SmsProviderKind,

    /// With `--sms-provider webhook`: the URL each SMS is POSTed to as JSON.
    #[arg(long, env = "NATTER_SMS_WEBHOOK_URL", global = true)]
    pub sms_webhook_url: Option<String>,

    /// With `--sms-provider webhook`: how long one POST may take.
    #[arg(long, env = "NATTER_SMS_WEBHOOK_TIMEOUT_MS", default_value_t = DEFAULT_SMS_WEBHOOK_TIMEOUT_MS, global = true)]
    pub sms_webhook_timeout_ms: u64,

    /// `/sms` per user: `RATE/BURST` per second (default: one every 10 s, 3 at once); `0` is off.
    #[arg(long, env = "NATTER_SMS_RATE_LIMIT", default_value = DEFAULT_SMS_RATE_LIMIT, global = true)]
    pub sms_rate_limit: RateLimit,

    /// Failed logins per username and client address together: `RATE/BURST` per second
    /// (default: 5 at once, then one every 10 s); `0` is off. Past it, logins for that name
    /// from that address answer 429 with Retry-After; the same name from elsewhere still
    /// signs in. Also the shape of failed current-password checks per user.
    #[arg(long, env = "NATTER_LOGIN_RATE_LIMIT", default_value = DEFAULT_LOGIN_RATE_LIMIT, global = true)]
    pub login_rate_limit: RateLimit,

    /// Failed logins per username from all addresses together: the looser cap that stops a
    /// spread-out guesser (default: 100 at once, then two a second); `0` is off.
    #[arg(long, env = "NATTER_LOGIN_NAME_RATE_LIMIT", default_value = DEFAULT_LOGIN_NAME_RATE_LIMIT, global = true)]
    pub login_name_rate_limit: RateLimit,

    /// Sign-ups per client address (default: 5 at once, then one every 100 s); `0` is off.
    #[arg(long, env = "NATTER_SIGNUP_RATE_LIMIT", default_value = DEFAULT_SIGNUP_RATE_LIMIT, global = true)]
    pub signup_rate_limit: RateLimit,

    /// Addresses or networks (CIDR) of reverse proxies, comma-separated, e.g.
    /// `127.0.0.1,10.0.0.0/8`. Only when a request comes from one of them is its client
    /// address read from `X-Forwarded-For` or `Forwarded`; otherwise those headers are
    /// ignored and the peer address counts.
    #[arg(
        long,
        env = "NATTER_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Public and private rooms one user may create in all (admins are not limited); `0` is
    /// no limit.
    #[arg(long, env = "NATTER_MAX_ROOMS_PER_USER", default_value_t = DEFAULT_MAX_ROOMS_PER_USER, global = true)]
    pub max_rooms_per_user: u32,

    /// Direct and group conversations one user may start in all; `0` is no limit.
    #[arg(long, env = "NATTER_MAX_DIRECT_PER_USER", default_value_t = DEFAULT_MAX_DIRECT_PER_USER, global = true)]
    pub max_direct_per_user: u32,

    /// Rooms and conversations created, and rooms renamed or given a topic, per user,
    /// `RATE/BURST` per second (default: 10 at once, then one every 10 s); `0` is off.
    #[arg(long, env = "NATTER_CREATE_RATE_LIMIT", default_value = DEFAULT_CREATE_RATE_LIMIT, global = true)]
    pub create_rate_limit: RateLimit,

    /// Rooms joined or left and members added or removed per user, `RATE/BURST` per second
    /// (default: 30 at once, then one a second); `0` is off. Admins are not limited.
    #[arg(long, env = "NATTER_MEMBER_RATE_LIMIT", default_value = DEFAULT_MEMBER_RATE_LIMIT, global = true)]
    pub member_rate_limit: RateLimit,

    /// Rooms one user may be a member of (joined, added to, made); `0` is no limit.
    #[arg(long, env = "NATTER_MAX_MEMBERSHIPS_PER_USER", default_value_t = DEFAULT_MAX_MEMBERSHIPS_PER_USER, global = true)]
    pub max_memberships_per_user: u32,

    /// History pages and room lists read per user, `RATE/BURST` per second; `0` is off.
    #[arg(long, env = "NATTER_READ_RATE_LIMIT", default_value = DEFAULT_READ_RATE_LIMIT, global = true)]
    pub read_rate_limit: RateLimit,

    /// Searches per user, `RATE/BURST` per second (default: 20 at once, then two a
    /// second); `0` is off. A search reads far more than a history page.
    #[arg(long, env = "NATTER_SEARCH_RATE_LIMIT", default_value = DEFAULT_SEARCH_RATE_LIMIT, global = true)]
    pub search_rate_limit: RateLimit,

    /// Where uploaded files are kept (made if missing). Default: `uploads/` beside the
    /// SQLite file; on Postgres, `uploads/` in the working folder. Several nodes must share
    /// one folder (a shared volume).
    #[arg(long, env = "NATTER_UPLOAD_DIR", global = true)]
    pub upload_dir: Option<PathBuf>,

    /// The largest file one upload may be, in bytes; a larger body is refused with 413 as
    /// soon as it passes this, unread.
    #[arg(long, env = "NATTER_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES, global = true)]
    pub max_upload_bytes: u64,

    /// The bytes one user's files may take in all (sent or not); `0` is no quota.
    #[arg(long, env = "NATTER_UPLOAD_QUOTA_BYTES", default_value_t = DEFAULT_UPLOAD_QUOTA_BYTES, global = true)]
    pub upload_quota_bytes: u64,

    /// Uploads (files and avatars) per user, `RATE/BURST` per second (default: 20 at
    /// once, then one every two seconds); `0` is off.
    #[arg(long, env = "NATTER_UPLOAD_RATE_LIMIT", default_value = DEFAULT_UPLOAD_RATE_LIMIT, global = true)]
    pub upload_rate_limit: RateLimit,

    /// Open WebSockets per user; one more is refused (429 before the upgrade, or close
    /// 1013 after an `auth` frame). `0` is no limit.
    #[arg(long, env = "NATTER_MAX_SOCKETS_PER_USER", default_value_t = DEFAULT_MAX_SOCKETS_PER_USER, global = true)]
    pub max_sockets_per_user: u32,

    /// Open WebSockets per client address (IPv6 by /64), signed in or not; `0` is no limit.
    #[arg(long, env = "NATTER_MAX_SOCKETS_PER_ADDR", default_value_t = DEFAULT_MAX_SOCKETS_PER_ADDR, global = true)]
    pub max_sockets_per_addr: u32,

    /// Rooms one socket may have joined at once; `0` is no limit.
    #[arg(long, env = "NATTER_MAX_ROOMS_PER_SOCKET", default_value_t = DEFAULT_MAX_ROOMS_PER_SOCKET, global = true)]
    pub max_rooms_per_socket: u32,

    /// SMS (`/sms` and phone verification codes alike) one phone number may be sent in 24
    /// hours, whoever asks; `0` is no limit.
    #[arg(long, env = "NATTER_SMS_PER_RECIPIENT_PER_DAY", default_value_t = DEFAULT_SMS_PER_RECIPIENT_PER_DAY, global = true)]
    pub sms_per_recipient_per_day: u32,

    /// Failed logins per client address: `RATE/BURST` per second (default: 20 at once, then
    /// one a second); `0` is off.
    #[arg(long, env = "NATTER_LOGIN_ADDR_RATE_LIMIT", default_value = DEFAULT_LOGIN_ADDR_RATE_LIMIT, global = true)]
    pub login_addr_rate_limit: RateLimit,

    /// Attempts a job gets before it is given up.
    #[arg(long, env = "NATTER_JOB_MAX_ATTEMPTS", default_value_t = DEFAULT_JOB_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub job_max_attempts: u32,

    /// Wait before the first retry of a failed job; it doubles with each attempt (up to 10 min).
    #[arg(long, env = "NATTER_JOB_BACKOFF_MS", default_value_t = DEFAULT_JOB_BACKOFF_MS, global = true)]
    pub job_backoff_ms: u64,

    /// How long a worker holds a job; a job held longer (its worker died) is taken again.
    #[arg(long, env = "NATTER_JOB_LEASE_MS", default_value_t = DEFAULT_JOB_LEASE_MS, global = true)]
    pub job_lease_ms: u64,

    /// How often a node reads the database for messages that other processes stored (other
    /// nodes, a `natter worker`), in milliseconds. With Redis they are announced at once and
    /// this only catches what a lost notice missed.
    #[arg(long, env = "NATTER_TAIL_POLL_MS", default_value_t = DEFAULT_TAIL_POLL_MS, global = true)]
    pub tail_poll_ms: u64,

    /// On Postgres, how long a node's message writer waits for the cluster's write lock
    /// before it refuses the batch (`storage_unavailable`, counted in /metrics); a node that
    /// sits that long inside a write transaction (paused, cut off) has it ended by Postgres.
    #[arg(long, env = "NATTER_WRITE_LOCK_TIMEOUT_MS", default_value_t = DEFAULT_WRITE_LOCK_TIMEOUT_MS, global = true)]
    pub write_lock_timeout_ms: u64,

    /// How often an idle worker looks for due jobs.
    #[arg(long, env = "NATTER_WORKER_POLL_MS", default_value_t = DEFAULT_WORKER_POLL_MS, global = true)]
    pub worker_poll_ms: u64,

    /// Run the job worker inside `natter serve` (`serve --no-worker` turns it off).
    #[arg(skip = true)]
    pub run_worker: bool,
}

/// Where SMS go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmsProviderKind {
    /// A log line and a row in `sms_outbox`: nothing leaves the machine.
    Log,
    /// A JSON POST to `--sms-webhook-url`; any answer but 2xx is a failure.
    Webhook,
}

impl Settings {
    /// The HTTP worker threads, where the sessions run: `workers`, or one per core.
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }

    /// The defaults, with the given database. Tests start from here. They are what the
    /// command line gives with no flags and no environment: one definition, no copy to
    /// drift from it.
    #[expect(
        clippy::expect_used,
        reason = "the defaults are this program's own; `the_defaults_are_the_command_line_s` parses them"
    )]
    pub fn with_database(database_url: DatabaseUrl) -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            settings: Settings,
        }
        let command = <Defaults as clap::CommandFactory>::command()
            .mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(["natter"])
            .expect("the default settings parse");
        let mut settings = <Defaults as clap::FromArgMatches>::from_arg_matches(&matches)
            .expect("the default settings parse")
            .settings;
        settings.database_url = database_url;
        settings
    }

    /// Where uploaded files are kept: `--upload-dir`, else `uploads/` in the data folder
    /// (or the working folder, on Postgres).
    pub fn upload_dir(&self) -> PathBuf {
        self.upload_dir.clone().unwrap_or_else(|| {
            self.data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("uploads")
        })
    }

    /// The folder that keeps the generated secret: the SQLite file's folder. On Postgres
    /// there is none: several nodes must sign with one secret, so it is set, not generated.
    pub fn data_dir(&self) -> Option<PathBuf> {
        match &self.database_url {
            DatabaseUrl::Sqlite(path) => Some(
                path.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            ),
            DatabaseUrl::Postgres(_) => None,
        }
    }
}

/// A parsed `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` or `sqlite:PATH`; a relative path is taken from the working folder.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, as libpq reads it.
    Postgres(String),
}

impl std::fmt::Display for DatabaseUrl {
    /// The file, or the Postgres URL with any password hidden: fit for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) => {
                let Some((scheme, rest)) = url.split_once("://") else {
                    return f.write_str(url);
                };
                match rest.split_once('@') {
                    Some((user, host)) if user.contains(':') => {
                        let name = user.split(':').next().unwrap_or_default();
                        write!(f, "{scheme}://{name}:***@{host}")
                    }
                    _ => f.write_str(url),
                }
            }
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_owned()));
        }
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
            .with_context(|| {
                format!(
                    "unsupported DATABASE_URL '{s}': use sqlite://PATH, e.g. {DEFAULT_DATABASE_URL}, \
                     or postgres://USER@HOST:PORT/DATABASE"
                )
            })?;
        if path.is_empty() {
            bail!("DATABASE_URL '{s}' names no file: use sqlite://PATH");
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }
}

/// A token bucket's shape: `per_second` tokens flow in, up to `burst` are kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    pub const OFF: Self = Self {
        per_second: 0.0,
        burst: 0,
    };

    pub fn is_off(&self) -> bool {
        self.per_second == 0.0
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 10.0,
            burst: 30,
        }
    }
}

impl FromStr for RateLimit {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hint = || format!("rate limit '{s}': write RATE/BURST such as 10/30, or 0 for none");
        let (rate, burst) = match s.split_once('/') {
            Some((rate, burst)) => (rate, Some(burst)),
            None => (s, None),
        };
        let per_second: f64 = rate.trim().parse().with_context(hint)?;
        if !per_second.is_finite() || per_second < 0.0 {
            bail!(hint());
        }
        if per_second == 0.0 {
            return Ok(Self::OFF);
        }
        let burst = match burst {
            Some(b) => b.trim().parse().with_context(hint)?,
            None => per_second.ceil() as u32,
        };
        if burst == 0 {
            bail!(hint());
        }
        Ok(Self { per_second, burst })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        let url: Option<DatabaseUrl> = "sqlite://data/natter.db".parse().ok();
        assert_eq!(url, Some(DatabaseUrl::Sqlite("data/natter.db".into())));
        let url: Option<DatabaseUrl> = "sqlite:///var/lib/natter.db".parse().ok();
        assert_eq!(url, Some(DatabaseUrl::Sqlite("/var/lib/natter.db".into())));
        let url: Option<DatabaseUrl> = "postgres://natter:pw@db:5432/natter".parse().ok();
        assert_eq!(
            url.map(|u| u.to_string()),
            Some("postgres://natter:***@db:5432/natter".into())
        );
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn data_dir_is_the_database_folder() {
        let s = Settings::with_database(DatabaseUrl::Sqlite("data/natter.db".into()));
        assert_eq!(s.data_dir(), Some(PathBuf::from("data")));
        let s = Settings::with_database(DatabaseUrl::Sqlite("natter.db".into()));
        assert_eq!(s.data_dir(), Some(PathBuf::from(".")));
        let s = Settings::with_database(DatabaseUrl::Postgres("postgres://db/natter".into()));
        assert_eq!(s.data_dir(), None);
    }

    #[test]
    fn the_defaults_are_the_command_line_s() {
        let defaults = Settings::with_database(DatabaseUrl::Sqlite("x.db".into()));
        assert_eq!(defaults.database_url, DatabaseUrl::Sqlite("x.db".into()));
        assert_eq!(defaults.addr.to_string(), DEFAULT_ADDR);
        assert_eq!(defaults.room_buffer, DEFAULT_ROOM_BUFFER);
        assert_eq!(
            defaults.write_lock_timeout_ms,
            DEFAULT_WRITE_LOCK_TIMEOUT_MS
        );
        assert_eq!(Some(defaults.rate_limit), DEFAULT_RATE_LIMIT.parse().ok());
        assert_eq!(
            Some(defaults.sms_rate_limit),
            DEFAULT_SMS_RATE_LIMIT.parse().ok()
        );
        assert!(defaults.run_worker);
        assert_eq!(defaults.redis_url, None);
    }

    #[test]
    fn rate_limits() {
        let r: Option<RateLimit> = "10/30".parse().ok();
        assert_eq!(
            r,
            Some(RateLimit {
                per_second: 10.0,
                burst: 30
            })
        );
        assert_eq!("0".parse::<RateLimit>().ok(), Some(RateLimit::OFF));
        assert_eq!("5".parse::<RateLimit>().ok().map(|r| r.burst), Some(5));
        for bad in ["", "x", "-1/2", "10/0", "10/x"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad:?}");
        }
    }
}
