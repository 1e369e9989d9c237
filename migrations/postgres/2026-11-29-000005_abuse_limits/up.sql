-- A phone number is used for /sms only once its owner proved it theirs with a code sent to
-- it. Numbers set before this rule have proved nothing: they wait for verification.
ALTER TABLE users ADD COLUMN phone_pending TEXT;
ALTER TABLE users ADD COLUMN phone_code_hash TEXT;
ALTER TABLE users ADD COLUMN phone_code_expires_at TIMESTAMP;
ALTER TABLE users ADD COLUMN phone_code_attempts INTEGER NOT NULL DEFAULT 0;
UPDATE users SET phone_pending = phone, phone = NULL WHERE phone IS NOT NULL;

-- Every SMS asked for, by recipient number: the daily cap per number counts these.
CREATE TABLE sms_requests (
    id BIGSERIAL PRIMARY KEY,
    phone TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL
);
CREATE INDEX sms_requests_phone ON sms_requests (phone, requested_at);
CREATE INDEX sms_requests_requested_at ON sms_requests (requested_at);

-- The per-user limits on rooms and conversations count by creator.
CREATE INDEX rooms_created_by ON rooms (created_by, kind);
