//! The job worker: claims due jobs from the database, runs them, and reports back in the room.
//! It runs inside `natter serve` (unless `--no-worker`) or alone as `natter worker`; any number
//! of workers can share one database, since claiming is one atomic statement with a lease.

pub mod sms;

use crate::AppState;
use crate::bot::bot_message;
use crate::db::Database;
use crate::db::jobs::{self, ClaimedJob, PhoneCodePayload, SmsPayload};

/// What `/sms` sends: the same words every time.
pub const SMS_TEXT: &str =
    "Natter: someone in a conversation with you is trying to reach you. Open Natter to see who.";
use crate::db::writer::MessageWriter;
use crate::db::{uploads, users};
use crate::error::ApiResult;
use chrono::Utc;
use natter_shared::{RoomId, UploadId, UserId};
use sms::{Sms, SmsProvider};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How old a temporary upload file is before it counts as left behind by a crash.
const TEMP_FILES_LAST: Duration = Duration::from_secs(24 * 3600);

/// Longest wait between two attempts of a job.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

pub struct Worker {
    pub id: String,
    pub db: Database,
    pub writer: MessageWriter,
    pub provider: Box<dyn SmsProvider>,
    pub bot_id: UserId,
    pub lease: Duration,
    pub backoff: Duration,
    pub poll: Duration,
    /// Rung when a job is queued in this process, so that it starts at once.
    pub wake: Arc<Notify>,
    /// Where failures are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The upload folder, for removing files nobody sent.
    pub store: crate::files::Store,
}

impl Worker {
    /// A worker with the settings and parts of `state`, inside the server.
    pub fn for_state(state: &AppState) -> anyhow::Result<Self> {
        let storage = crate::startup::Storage {
            db: state.db.clone(),
            writer: state.writer.clone(),
            bot_id: state.bot_id,
        };
        Self::new(
            &state.settings,
            storage,
            state.metrics.clone(),
            state.jobs_wake.clone(),
        )
    }

    /// A worker on `storage`; `wake` starts it on a job queued in this process at once.
    pub fn new(
        s: &crate::config::Settings,
        storage: crate::startup::Storage,
        metrics: Arc<crate::metrics::Metrics>,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let upload_dir = s.upload_dir();
        let store = crate::files::Store::open(&upload_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot use the upload folder {}: {e}; make it writable, or choose another with --upload-dir",
                upload_dir.display()
            )
        })?;
        Ok(Self {
            store,
            id: worker_id(),
            provider: sms::from_settings(s, storage.db.clone())?,
            db: storage.db,
            writer: storage.writer,
            bot_id: storage.bot_id,
            lease: Duration::from_millis(s.job_lease_ms),
            backoff: Duration::from_millis(s.job_backoff_ms),
            poll: Duration::from_millis(s.worker_poll_ms),
            wake,
            metrics,
        })
    }

    /// Runs jobs until `stop` turns true. The job in hand is finished first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, "job worker started");
        while !*stop.borrow() {
            match self.claim().await {
                Ok(Some(job)) => self.process(job).await,
                Ok(None) => {
                    tokio::select! {
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = self.wake.notified() => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    static FAILURES: crate::telemetry::Throttled =
                        crate::telemetry::Throttled::new(Duration::from_secs(10));
                    if let Some(left_out) = FAILURES.admit() {
                        tracing::warn!(error = %e, left_out, "cannot claim a job; trying again");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(self.poll) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    async fn claim(&self) -> ApiResult<Option<ClaimedJob>> {
        let id = self.id.clone();
        let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX);
        self.db
            .run(move |conn| {
                let now = Utc::now().naive_utc();
                Ok(jobs::claim(conn, &id, now, now + lease)?)
            })
            .await
    }

    async fn process(&self, job: ClaimedJob) {
        match job.kind.as_str() {
            jobs::SMS => match serde_json::from_str::<SmsPayload>(&job.payload) {
                Ok(payload) => {
                    let result = self.send_sms(&job, &payload).await;
                    self.settle(&job, result, Some(&payload)).await;
                }
                Err(e) => self.unreadable(&job, &e).await,
            },
            jobs::PHONE_CODE => match serde_json::from_str::<PhoneCodePayload>(&job.payload) {
                Ok(payload) => {
                    let sms = Sms {
                        job_id: job.id,
                        to: payload.phone,
                        username: payload.username,
                        body: format!(
                            "Your Natter code is {}. It expires in 10 minutes. If you did not ask for it, ignore this message.",
                            payload.code
                        ),
                    };
                    let result = self.provider.send(&sms).await;
                    self.settle(&job, result, None).await;
                }
                Err(e) => self.unreadable(&job, &e).await,
            },
            jobs::UNSENT_UPLOAD => {
                match serde_json::from_str::<jobs::UnsentUploadPayload>(&job.payload) {
                    Ok(payload) => {
                        let result = self.remove_unsent(UploadId(payload.upload_id)).await;
                        self.settle(&job, result, None).await;
                    }
                    Err(e) => self.unreadable(&job, &e).await,
                }
            }
            _ => self.unreadable(&job, &"no such kind").await,
        }
    }

    /// Removes an upload that no message took within a day, and its file if nothing else
    /// names the same bytes; also temporary files a crash left behind. Nothing to do when a
    /// message took it.
    async fn remove_unsent(&self, id: UploadId) -> Result<(), String> {
        let store = self.store.clone();
        self.db
            .run(move |conn| {
                let Some(sha) = uploads::forget_unsent(conn, id)? else {
                    return Ok(());
                };
                for free in uploads::unused(conn, &[sha])? {
                    store
                        .release(&free)
                        .map_err(crate::error::ApiError::internal)?;
                }
                tracing::info!(upload = %id, "removed an upload nobody sent");
                if let Err(e) = store.sweep_temp(TEMP_FILES_LAST) {
                    tracing::warn!(error = %e, "cannot sweep the upload folder's temporary files");
                }
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn unreadable(&self, job: &ClaimedJob, why: &dyn std::fmt::Display) {
        let error = format!("cannot run a job of kind '{}': {why}", job.kind);
        self.settle(job, Err(error), None).await;
    }

    /// The text carries no word a user chose (names included): an SMS that anyone can make
    /// the server send to someone must not be a channel for spam or phishing.
    async fn send_sms(&self, job: &ClaimedJob, payload: &SmsPayload) -> Result<(), String> {
        let to_user = UserId(payload.to_user_id);
        let phone = self
            .db
            .run(move |conn| Ok(users::find_by_id(conn, to_user)?.and_then(|u| u.phone)))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "{} has no verified phone number any more",
                    payload.to_username
                )
            })?;
        let sms = Sms {
            job_id: job.id,
            to: phone,
            username: payload.to_username.clone(),
            body: SMS_TEXT.to_owned(),
        };
        self.provider.send(&sms).await
    }

    /// Records the outcome and reports it in the room: done, retry later, or given up.
    async fn settle(
        &self,
        job: &ClaimedJob,
        result: Result<(), String>,
        payload: Option<&SmsPayload>,
    ) {
        let (id, worker) = (job.id, self.id.clone());
        let last = job.attempts >= job.max_attempts;
        let retry_at = (!last).then(|| {
            let factor = 2u32.saturating_pow(u32::try_from(job.attempts - 1).unwrap_or(0));
            let wait = self.backoff.saturating_mul(factor).min(MAX_BACKOFF);
            Utc::now().naive_utc()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
        });
        let report = match &result {
            Ok(()) => payload.map(|p| format!("An SMS has been sent to {}.", p.to_username)),
            Err(e) if last => payload.map(|p| {
                format!(
                    "The SMS to {} could not be sent after {} attempts: {e}.",
                    p.to_username, job.attempts
                )
            }),
            Err(_) => None,
        };
        let outcome = result.clone();
        let settled = self
            .db
            .run(move |conn| {
                let now = Utc::now().naive_utc();
                Ok(match &outcome {
                    Ok(()) => jobs::complete(conn, id, &worker, now)?,
                    Err(e) => jobs::fail(conn, id, &worker, e, retry_at, now)?,
                })
            })
            .await;
        match (&settled, &result) {
            (Ok(true), Ok(())) => tracing::info!(job = id, "job done"),
            (Ok(true), Err(e)) if last => {
                self.metrics
                    .jobs_failed
                    .with_label_values(&["given_up"])
                    .inc();
                tracing::warn!(job = id, error = %e, "job failed for good")
            }
            (Ok(true), Err(e)) => {
                self.metrics.jobs_failed.with_label_values(&["retry"]).inc();
                tracing::info!(job = id, error = %e, attempt = job.attempts, "job failed; will retry")
            }
            (Ok(false), _) => {
                tracing::warn!(
                    job = id,
                    "the job's lease ran out before it finished; another worker has it"
                );
                return;
            }
            (Err(e), _) => {
                tracing::error!(job = id, error = %e, "cannot record the job's outcome; it will run again");
                return;
            }
        }
        if let (Some(body), Some(p)) = (report, payload) {
            let message = bot_message(self.bot_id, RoomId(p.room_id), body);
            if let Err(e) = self.writer.store(message).await {
                tracing::error!(job = id, error = %e, "cannot post the job's report");
            }
        }
    }
}

/// A name for this worker in the `locked_by` column: host, process and a random part.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let mut salt = [0u8; 4];
    let _ = getrandom::fill(&mut salt);
    let salt: String = salt.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{}-{salt}", std::process::id())
}
