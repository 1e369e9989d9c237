-- A message may answer another of the same room. The original's deletion (soft) leaves the
-- link; a room deleted takes both with it.
ALTER TABLE messages ADD COLUMN reply_to INTEGER REFERENCES messages (id) ON DELETE SET NULL;
