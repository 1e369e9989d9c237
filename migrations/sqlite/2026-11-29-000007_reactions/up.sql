-- Reactions: one row per (message, user, emoji). A message keeps how many it has, so that
-- reading history looks reactions up only for the messages that have some.
CREATE TABLE reactions (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (message_id, user_id, emoji)
);
ALTER TABLE messages ADD COLUMN reaction_count INTEGER NOT NULL DEFAULT 0;
