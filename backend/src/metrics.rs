//! What `/metrics` reports, in Prometheus' text format: live connections and rooms, messages
//! stored, deliveries, slow sessions dropped, the job queue and its failures, request
//! latency per route, and the process (CPU, memory, open files).
//!
//! Counters live in the app state (`AppState::metrics`), and every part that counts holds a
//! handle: the writer, the worker, the hub and the rooms; gauges that are cheap to read at
//! scrape time (connections, rooms, due jobs, uploads) are read then.

use crate::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub messages_stored: IntCounter,
    pub deliveries: IntCounter,
    pub slow_sessions_dropped: IntCounter,
    /// Sessions that fell behind their room's ring and read the database to catch up.
    pub session_catchups: IntCounter,
    /// History pages answered from the newest messages kept in memory.
    pub history_from_memory: IntCounter,
    /// Room lists answered from memory (`room_lists`), without the database.
    pub lists_from_memory: IntCounter,
    /// Batches refused because the cluster's write lock was not free in time (Postgres).
    pub write_lock_timeouts: IntCounter,
    pub jobs_failed: IntCounterVec,
    pub requests: HistogramVec,
    pub connections: IntGauge,
    pub rooms: IntGauge,
    pub jobs_waiting: IntGauge,
    /// Uploads stored (sent or waiting to be sent) and the bytes they hold.
    pub upload_files: IntGauge,
    pub upload_bytes: IntGauge,
    /// 1 while connected to Redis (with `REDIS_URL`), else 0.
    pub redis_up: IntGauge,
}

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("natter".into()), None)?;
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let messages_stored = counter(
            "messages_stored_total",
            "Messages this process stored (acknowledged after commit).",
        )?;
        let deliveries = counter(
            "deliveries_total",
            "Message frames handed to subscribed sockets.",
        )?;
        let slow_sessions_dropped = counter(
            "slow_sessions_dropped_total",
            "Sockets closed with 4008: catching them up from the database made no progress for a whole client timeout.",
        )?;
        let session_catchups = counter(
            "session_catchups_total",
            "Times a session fell behind its room's buffer and caught up from the database.",
        )?;
        let history_from_memory = counter(
            "history_pages_from_memory_total",
            "History pages answered from the newest messages kept in memory, without the database.",
        )?;
        let lists_from_memory = counter(
            "room_lists_from_memory_total",
            "Room lists (GET /api/rooms) answered from memory, without the database.",
        )?;
        let write_lock_timeouts = counter(
            "write_lock_timeouts_total",
            "Message batches refused because another node held the write lock too long (Postgres).",
        )?;
        let connections = gauge("connections", "Open WebSocket sessions.")?;
        let rooms = gauge("rooms_active", "Rooms with at least one subscriber.")?;
        let jobs_waiting = gauge(
            "jobs_waiting",
            "Jobs queued or running (the queue's depth).",
        )?;
        let upload_files = gauge(
            "upload_files",
            "Uploaded files (sent in a message or waiting to be sent).",
        )?;
        let upload_bytes = gauge(
            "upload_bytes",
            "Bytes of uploaded files (each upload counted in full, as quotas count them).",
        )?;
        let redis_up = gauge(
            "redis_up",
            "1 while this node is connected to Redis (with REDIS_URL set), 0 otherwise.",
        )?;
        let jobs_failed = IntCounterVec::new(
            Opts::new("job_failures_total", "Failed job attempts, by outcome."),
            &["outcome"],
        )?;
        registry.register(Box::new(jobs_failed.clone()))?;
        let requests = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency, by method, route pattern and status class.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            messages_stored,
            deliveries,
            slow_sessions_dropped,
            session_catchups,
            history_from_memory,
            lists_from_memory,
            write_lock_timeouts,
            jobs_failed,
            requests,
            connections,
            rooms,
            jobs_waiting,
            upload_files,
            upload_bytes,
            redis_up,
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Times every request into the latency histogram, labelled by the route's pattern (never the
/// raw path, so the label set stays small).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .filter(|p| p.starts_with("/api") || p.starts_with("/ws") || p.starts_with("/healthz"))
            .unwrap_or_else(|| "other".to_owned());
        let status = match res.status().as_u16() / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        };
        let method = res.request().method().as_str();
        state
            .metrics
            .requests
            .with_label_values(&[method, route.as_str(), status])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

/// `GET /metrics`.
pub async fn expose(state: web::Data<AppState>) -> HttpResponse {
    let metrics = &state.metrics;
    metrics.connections.set(state.hub.sessions() as i64);
    metrics.rooms.set(state.hub.active_rooms() as i64);
    let counted = state
        .db
        .run(|conn| {
            use crate::db::schema::jobs;
            // Jobs due later (the removal of an unsent upload, a day on) wait for no one.
            let now = chrono::Utc::now().naive_utc();
            let waiting = jobs::table
                .filter(
                    jobs::state
                        .eq("running")
                        .or(jobs::state.eq("queued").and(jobs::run_at.le(now))),
                )
                .count()
                .get_result::<i64>(conn)?;
            Ok((waiting, crate::db::uploads::totals(conn)?))
        })
        .await;
    match counted {
        Ok((waiting, (files, bytes))) => {
            metrics.jobs_waiting.set(waiting);
            metrics.upload_files.set(files);
            metrics.upload_bytes.set(bytes);
        }
        Err(e) => tracing::warn!(error = %e, "cannot count jobs and uploads for /metrics"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
