-- One row that the message writer rewrites while messages cannot be stored (a full disk, a
-- lock held too long, a lost connection), to learn by itself when the database takes writes
-- again: /readyz turns back to 200 even when nobody is sending. No existing data changes.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY NOT NULL,
    probed_at TIMESTAMP NOT NULL
);
