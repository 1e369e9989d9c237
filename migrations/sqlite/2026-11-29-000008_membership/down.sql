-- Back to public and direct rooms only: private rooms and group conversations (and their
-- messages) go, as do memberships of public rooms.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP TRIGGER room_members_counted;
DROP TRIGGER room_members_uncounted;
DELETE FROM messages WHERE room_id IN (SELECT id FROM rooms WHERE kind IN ('private', 'group'));
DELETE FROM room_members WHERE room_id IN (SELECT id FROM rooms WHERE kind <> 'direct');
DELETE FROM rooms WHERE kind IN ('private', 'group');
DROP INDEX room_members_user_id;
ALTER TABLE room_members DROP COLUMN role;
ALTER TABLE room_members DROP COLUMN joined_at;
CREATE INDEX room_members_user_id ON room_members (user_id);

CREATE TABLE old_rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('public', 'direct')),
    name TEXT,
    name_key TEXT UNIQUE,
    direct_key TEXT UNIQUE,
    created_by INTEGER REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CHECK ((kind = 'public') = (name_key IS NOT NULL)),
    CHECK ((kind = 'direct') = (direct_key IS NOT NULL))
);
INSERT INTO old_rooms (id, kind, name, name_key, direct_key, created_by, created_at)
    SELECT id, kind, name, name_key, direct_key, created_by, created_at FROM rooms;
DROP TABLE rooms;
ALTER TABLE old_rooms RENAME TO rooms;
CREATE INDEX rooms_created_by ON rooms (created_by, kind);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
