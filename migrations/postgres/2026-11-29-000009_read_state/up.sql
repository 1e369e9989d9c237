-- Read state and mentions.
--
-- Each membership keeps a read marker (`last_read_id`: every message up to it is read) and a
-- notification level (`notify`: 'all', 'mentions' or 'none'; NULL is the room kind's
-- default). Existing memberships start with everything read, as the web app showed it after
-- a reload until now.
--
-- A message keeps whom it mentions: `mentions` (the user ids, comma-separated, for reading
-- history without a join) and `mentions_room` (`@room`); the `mentions` table has one row per
-- person mentioned by name, for counting a user's unread mentions by room. `@room` is not
-- copied to every member: those messages are found by a partial index instead.
--
-- Counting a member's unread messages reads a room's messages after the marker by author and
-- deletion: the room's index carries both, so that counting reads the index alone.
ALTER TABLE room_members ADD COLUMN last_read_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE room_members ADD COLUMN notify TEXT CHECK (notify IN ('all', 'mentions', 'none'));
UPDATE room_members
    SET last_read_id = COALESCE((SELECT MAX(id) FROM messages WHERE room_id = room_members.room_id), 0);

DROP INDEX messages_room_id_id;
CREATE INDEX messages_room_id_id ON messages (room_id, id) INCLUDE (author_id, deleted_at);

ALTER TABLE messages ADD COLUMN mentions TEXT;
ALTER TABLE messages ADD COLUMN mentions_room BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX messages_room_mentions ON messages (room_id, id) WHERE mentions_room;

CREATE TABLE mentions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX mentions_user_room ON mentions (user_id, room_id, message_id);
