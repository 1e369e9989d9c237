DROP TABLE search_backfill;
DROP INDEX messages_search;
DROP TRIGGER messages_search ON messages;
DROP FUNCTION natter_search_update();
ALTER TABLE messages DROP COLUMN search;
DROP FUNCTION natter_search_vector(TEXT);
DROP TEXT SEARCH CONFIGURATION natter_search;
