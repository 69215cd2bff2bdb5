-- The large values (answers of about 7 KB, audit pages of up to megabytes) compressed with
-- lz4 instead of PostgreSQL's default, pglz: several times cheaper to write and to read, for
-- a little less compression. pglz was most of what the database spent on the audit of cache
-- hits and on keeping new answers (`cargo xtask bench gateway`: hits of 25 hashes from 64-68%
-- to 79-88% of direct, misses 40% faster). Values written before keep their compression. A
-- server built without lz4 (or older than PostgreSQL 14) keeps pglz.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE answer ALTER COLUMN body SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE gateway_audit_page ALTER COLUMN lines SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'lz4 compression not available: pglz kept';
END
$$;
