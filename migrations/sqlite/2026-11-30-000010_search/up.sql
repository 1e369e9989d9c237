-- Full-text search over message bodies: an FTS5 index whose content is the messages table
-- (the text is not stored twice). unicode61 with diacritics removed, so "cafe" finds
-- "café"; prefix indexes for two and three letters so that "de*" and "dep*" read the index.
-- Deleted messages (deleted_at set) are not in it. It is kept in step inside the transaction
-- of every write: new messages are added by the message writer, in one statement per batch
-- after all its inserts (FTS5 writes its pending terms to disk whenever a savepoint opens,
-- and the writer opens one per message, so an insert trigger wrote one index segment per
-- message and halved ingest); edits, deletions and removals by the triggers below.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
-- Merge index segments 16 at a time rather than 4: each batch of the message writer adds
-- one, and merging them is most of what indexing costs the writer.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);

CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, deleted_at ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body)
        SELECT 'delete', old.id, old.body WHERE old.deleted_at IS NULL;
    INSERT INTO messages_fts (rowid, body)
        SELECT new.id, new.body WHERE new.deleted_at IS NULL;
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.deleted_at IS NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;

-- The messages that were here before this migration are indexed by the server when it
-- opens the database, newest first, a chunk per transaction, with progress in the log
-- (one statement here could take minutes on a large database and say nothing). This row
-- says how far that has come: every message with an id up to `up_to` is still to index.
-- Newer messages are indexed as they are stored.
CREATE TABLE search_backfill (
    up_to BIGINT NOT NULL
);
INSERT INTO search_backfill (up_to) SELECT COALESCE(MAX(id), 0) FROM messages;
