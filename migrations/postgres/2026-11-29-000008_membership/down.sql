-- Back to public and direct rooms only: private rooms and group conversations (and their
-- messages) go, as do memberships of public rooms.
DROP TRIGGER room_members_counted ON room_members;
DROP FUNCTION room_members_count();
DELETE FROM rooms WHERE kind IN ('private', 'group');
DELETE FROM room_members USING rooms
    WHERE rooms.id = room_members.room_id AND rooms.kind <> 'direct';
DROP INDEX room_members_user_id;
CREATE INDEX room_members_user_id ON room_members (user_id);
ALTER TABLE room_members DROP COLUMN role;
ALTER TABLE room_members DROP COLUMN joined_at;
DROP INDEX rooms_kind_id;
ALTER TABLE rooms DROP COLUMN topic;
ALTER TABLE rooms DROP COLUMN member_count;
ALTER TABLE rooms DROP CONSTRAINT rooms_kind_check;
ALTER TABLE rooms DROP CONSTRAINT rooms_named_check;
ALTER TABLE rooms DROP CONSTRAINT rooms_keyed_check;
ALTER TABLE rooms ADD CONSTRAINT rooms_kind_check CHECK (kind IN ('public', 'direct'));
ALTER TABLE rooms ADD CONSTRAINT rooms_check CHECK ((kind = 'public') = (name_key IS NOT NULL));
ALTER TABLE rooms ADD CONSTRAINT rooms_check1 CHECK ((kind = 'direct') = (direct_key IS NOT NULL));
