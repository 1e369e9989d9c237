-- Files. An upload is its uploader's alone until a message carries it (message_id set,
-- in the same transaction as the message); from then on it is the room's, readable by its
-- members. The bytes live outside the database, in a folder addressed by their SHA-256
-- (sha256), so two uploads of the same bytes share one stored file; a file is removed when
-- no upload names it any more. Images keep their size in pixels and have a thumbnail
-- (thumb_type: its content type; NULL for files that are no image).
CREATE TABLE uploads (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id BIGINT REFERENCES messages (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    thumb_type TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX uploads_message ON uploads (message_id);
-- A user's quota (the sum of their uploads' sizes) and the sweep of unsent uploads.
CREATE INDEX uploads_user ON uploads (user_id, message_id);
CREATE INDEX uploads_sha256 ON uploads (sha256);
-- How many files a message carries, so that reading history looks files up only for the
-- messages that have some (as reaction_count does for reactions).
ALTER TABLE messages ADD COLUMN file_count INTEGER NOT NULL DEFAULT 0;
-- A user's picture: the SHA-256 of the stored square image, NULL for none (the app then
-- shows initials).
ALTER TABLE users ADD COLUMN avatar TEXT;
