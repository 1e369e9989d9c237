-- Users. `username_key` is the case-folded name: uniqueness and search use it.
-- `token_version` is written into every token; raising it revokes all of a user's tokens.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);

-- The chat bot posts as a real user so that every message joins to an author.
-- '!' is no bcrypt hash, so nobody can log in as it.
INSERT INTO users (username, username_key, password_hash, created_at)
VALUES ('natterbot', 'natterbot', '!', CURRENT_TIMESTAMP);

-- Rooms. A public room has a name (unique by `name_key`, the case-folded name);
-- a direct room has none and is unique by `direct_key`, "LOW_USER_ID:HIGH_USER_ID".
CREATE TABLE rooms (
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

-- Members of direct rooms (public rooms are open to every signed-in user).
CREATE TABLE room_members (
    room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_id ON room_members (user_id);

-- Messages. AUTOINCREMENT ids never repeat and, with one writer, rise in commit order:
-- they order history and serve as cursors. (author_id, client_id) makes sends idempotent;
-- rows with no client_id are all distinct, as NULLs are in a unique index.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    author_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('user', 'bot', 'system')),
    body TEXT NOT NULL,
    client_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_room_id_id ON messages (room_id, id);
CREATE UNIQUE INDEX messages_author_id_client_id ON messages (author_id, client_id);
