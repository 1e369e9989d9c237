-- A user's own phone number (E.164), for /sms. Shown to nobody else.
ALTER TABLE users ADD COLUMN phone TEXT;

-- Durable background jobs. A worker claims one by setting `locked_by` and a lease
-- (`locked_until`); a job whose lease has run out is claimed again, so a worker that died
-- loses nothing. Failures go back to 'queued' with a later `run_at` until `max_attempts`.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TIMESTAMP NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_state_run_at ON jobs (state, run_at);

-- What the `log` SMS provider "sent": one row per job at most.
CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    job_id INTEGER NOT NULL UNIQUE REFERENCES jobs (id),
    phone TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL
);
