-- Rooms people belong to. Four kinds: `public` (in the directory, anyone may join),
-- `private` (invite only), `direct` (two people) and `group` (3 to 9 people). Public and
-- private rooms have a name; direct and group conversations are unique by `direct_key`, the
-- sorted member ids joined by ':'. A room keeps its topic and its member count (kept by
-- triggers, so that listing rooms counts nothing).
--
-- Existing data keeps today's behaviour: every user is made a member of every public room
-- (its creator the owner), and direct rooms keep their two members.
ALTER TABLE rooms DROP CONSTRAINT rooms_kind_check;
ALTER TABLE rooms DROP CONSTRAINT rooms_check;
ALTER TABLE rooms DROP CONSTRAINT rooms_check1;
ALTER TABLE rooms ADD CONSTRAINT rooms_kind_check
    CHECK (kind IN ('public', 'private', 'direct', 'group'));
ALTER TABLE rooms ADD CONSTRAINT rooms_named_check
    CHECK ((kind IN ('public', 'private')) = (name_key IS NOT NULL));
ALTER TABLE rooms ADD CONSTRAINT rooms_keyed_check
    CHECK ((kind IN ('direct', 'group')) = (direct_key IS NOT NULL));
ALTER TABLE rooms ADD COLUMN topic TEXT;
ALTER TABLE rooms ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX rooms_kind_id ON rooms (kind, id);

-- A membership: role, when, and (later) the member's own settings for the room.
ALTER TABLE room_members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
    CHECK (role IN ('owner', 'member'));
ALTER TABLE room_members ADD COLUMN joined_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE room_members SET joined_at = rooms.created_at FROM rooms WHERE rooms.id = room_members.room_id;
-- "My rooms" reads memberships by user.
DROP INDEX room_members_user_id;
CREATE INDEX room_members_user_id ON room_members (user_id, room_id);

INSERT INTO room_members (room_id, user_id, role, joined_at)
    SELECT rooms.id, users.id,
           CASE WHEN rooms.created_by = users.id THEN 'owner' ELSE 'member' END,
           GREATEST(rooms.created_at, users.created_at)
    FROM rooms CROSS JOIN users
    WHERE rooms.kind = 'public' AND users.username_key <> 'natterbot';

UPDATE rooms
    SET member_count = (SELECT COUNT(*) FROM room_members WHERE room_id = rooms.id);
CREATE FUNCTION room_members_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE rooms SET member_count = member_count + 1 WHERE id = NEW.room_id;
    ELSE
        UPDATE rooms SET member_count = member_count - 1 WHERE id = OLD.room_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER room_members_counted AFTER INSERT OR DELETE ON room_members
    FOR EACH ROW EXECUTE FUNCTION room_members_count();
