DROP TABLE sms_outbox;
DROP TABLE jobs;
ALTER TABLE users DROP COLUMN phone;
