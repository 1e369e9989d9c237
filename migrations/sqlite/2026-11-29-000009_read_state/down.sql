DROP TABLE mentions;
DROP INDEX messages_room_mentions;
ALTER TABLE messages DROP COLUMN mentions_room;
ALTER TABLE messages DROP COLUMN mentions;
ALTER TABLE room_members DROP COLUMN notify;
ALTER TABLE room_members DROP COLUMN last_read_id;
DROP INDEX messages_room_id_id;
CREATE INDEX messages_room_id_id ON messages (room_id, id);
