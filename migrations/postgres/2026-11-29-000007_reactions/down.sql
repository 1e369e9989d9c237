ALTER TABLE messages DROP COLUMN reaction_count;
DROP TABLE reactions;
