-- +goose Up
-- Checkpoint blobs compress well after all (5–6× with a fast compressor:
-- subject keys, event ids, types, URLs and times repeat from row to row),
-- and their bytes are most of the WAL PostgreSQL writes for Dowser: each is
-- written once as a delta, again by a compaction, and its pages are logged
-- whole when a compaction deletes it. Where the server has lz4 (PostgreSQL
-- 14 and later built with it, as the Debian, Docker and managed-service
-- builds are), blobs are stored lz4-compressed, which costs PostgreSQL
-- about a core-second per 500 MB; elsewhere they stay uncompressed, as
-- pglz would cost several times that.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE checkpoint_log ALTER COLUMN data SET COMPRESSION lz4;
        ALTER TABLE checkpoint_log ALTER COLUMN data SET STORAGE EXTENDED;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE checkpoint_log ALTER COLUMN data SET STORAGE EXTERNAL;
