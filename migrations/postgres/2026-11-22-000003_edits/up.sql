-- The Postgres twin of migrations/sqlite/2026-11-22-000003_edits.
-- Messages can be edited (by their author) and deleted (by their author or an admin). A
-- deleted message keeps its row, with the body cleared, so that its id and client id stay
-- taken: a client resending it gets the deleted message back, not a new one.
ALTER TABLE messages ADD COLUMN edited_at TIMESTAMP;
ALTER TABLE messages ADD COLUMN deleted_at TIMESTAMP;
