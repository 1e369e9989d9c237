DROP INDEX rooms_created_by;
DROP TABLE sms_requests;
UPDATE users SET phone = phone_pending WHERE phone IS NULL AND phone_pending IS NOT NULL;
ALTER TABLE users DROP COLUMN phone_code_attempts;
ALTER TABLE users DROP COLUMN phone_code_expires_at;
ALTER TABLE users DROP COLUMN phone_code_hash;
ALTER TABLE users DROP COLUMN phone_pending;
