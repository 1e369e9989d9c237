-- Rooms people belong to. Four kinds: `public` (in the directory, anyone may join),
-- `private` (invite only), `direct` (two people) and `group` (3 to 9 people). Public and
-- private rooms have a name; direct and group conversations are unique by `direct_key`, the
-- sorted member ids joined by ':'. A room keeps its topic and its member count (kept by
-- triggers, so that listing rooms counts nothing).
--
-- Existing data keeps today's behaviour: every user is made a member of every public room
-- (its creator the owner), and direct rooms keep their two members.
--
-- Rebuilding `rooms` follows SQLite's procedure for other kinds of table schema changes:
-- foreign keys off, a new table, copy, drop, rename, check, commit.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TEMPORARY TABLE old_room_sequence AS
    SELECT seq FROM sqlite_sequence WHERE name = 'rooms';

CREATE TABLE new_rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('public', 'private', 'direct', 'group')),
    name TEXT,
    name_key TEXT UNIQUE,
    direct_key TEXT UNIQUE,
    topic TEXT,
    member_count INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    CHECK ((kind IN ('public', 'private')) = (name_key IS NOT NULL)),
    CHECK ((kind IN ('direct', 'group')) = (direct_key IS NOT NULL))
);
INSERT INTO new_rooms (id, kind, name, name_key, direct_key, created_by, created_at)
    SELECT id, kind, name, name_key, direct_key, created_by, created_at FROM rooms;
DROP TABLE rooms;
ALTER TABLE new_rooms RENAME TO rooms;
-- Ids of deleted rooms are never given out again, as before.
UPDATE sqlite_sequence
    SET seq = MAX(seq, COALESCE((SELECT seq FROM old_room_sequence), 0))
    WHERE name = 'rooms';
DROP TABLE old_room_sequence;
CREATE INDEX rooms_created_by ON rooms (created_by, kind);
CREATE INDEX rooms_kind_id ON rooms (kind, id);

-- A membership: role, when, and (later) the member's own settings for the room.
ALTER TABLE room_members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'member'));
ALTER TABLE room_members ADD COLUMN joined_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE room_members
    SET joined_at = (SELECT created_at FROM rooms WHERE rooms.id = room_members.room_id);
-- "My rooms" reads memberships by user.
DROP INDEX room_members_user_id;
CREATE INDEX room_members_user_id ON room_members (user_id, room_id);

INSERT INTO room_members (room_id, user_id, role, joined_at)
    SELECT rooms.id, users.id,
           CASE WHEN rooms.created_by = users.id THEN 'owner' ELSE 'member' END,
           MAX(rooms.created_at, users.created_at)
    FROM rooms CROSS JOIN users
    WHERE rooms.kind = 'public' AND users.username_key <> 'natterbot';

UPDATE rooms
    SET member_count = (SELECT COUNT(*) FROM room_members WHERE room_id = rooms.id);
CREATE TRIGGER room_members_counted AFTER INSERT ON room_members BEGIN
    UPDATE rooms SET member_count = member_count + 1 WHERE id = NEW.room_id;
END;
CREATE TRIGGER room_members_uncounted AFTER DELETE ON room_members BEGIN
    UPDATE rooms SET member_count = member_count - 1 WHERE id = OLD.room_id;
END;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
