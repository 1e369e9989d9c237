ALTER TABLE users DROP COLUMN avatar;
ALTER TABLE messages DROP COLUMN file_count;
DROP TABLE uploads;
