-- Full-text search over message bodies: a tsvector column with a GIN index.
--
-- The configuration is `simple` (no stemming, no language guessing) with the `unaccent`
-- dictionary in front, so "cafe" finds "café". The vector is made from the body with ASCII
-- punctuation turned into spaces: Postgres's parser would otherwise keep "example.com",
-- "bob@example.com" or "a/b" as single tokens, and "example" would not find them, where
-- SQLite (unicode61) splits them. Both engines then see the same words, and the server's
-- one query syntax means the same on both.
--
-- `unaccent` ships with Postgres (contrib); it is a trusted extension, so the owner of the
-- database may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TEXT SEARCH CONFIGURATION natter_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION natter_search
    ALTER MAPPING FOR word, hword, hword_part, numword, numhword, hword_numpart
    WITH unaccent, simple;

CREATE FUNCTION natter_search_vector(body TEXT) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT to_tsvector(
        'natter_search'::regconfig,
        translate(body, '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
                        '                                ')
    )
$$;

-- NULL for a deleted message: it is never found.
ALTER TABLE messages ADD COLUMN search tsvector;

CREATE FUNCTION natter_search_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.deleted_at IS NULL THEN
        NEW.search := natter_search_vector(NEW.body);
    ELSE
        NEW.search := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER messages_search BEFORE INSERT OR UPDATE OF body, deleted_at ON messages
FOR EACH ROW EXECUTE FUNCTION natter_search_update();

CREATE INDEX messages_search ON messages USING gin (search);

-- The messages that were here before this migration are indexed by the server when it
-- opens the database, newest first, a chunk per transaction, with progress in the log.
-- Every message with an id up to `up_to` is still to index; newer ones are indexed by the
-- trigger above.
CREATE TABLE search_backfill (
    up_to BIGINT NOT NULL
);
INSERT INTO search_backfill (up_to) SELECT COALESCE(MAX(id), 0) FROM messages;
