-- +goose Up
-- Incremental checkpoints (#13). A partition's state is kept as a
-- compacted log: each checkpoint appends the rows that changed since the
-- previous one as one blob (or a few), and the log is rewritten with only
-- the newest entry of each key once the appended bytes reach the size of
-- the last rewrite. The checkpoints row keeps the offset, the owner and the
-- engine's small header (meta). Rewriting the whole state as one blob every
-- few seconds bloated the table to 70 times its live size; upserting one
-- row per changed subject cost ~7 µs of PostgreSQL a row.

-- The log hangs off this id rather than off (group_id, topic, partition):
-- a short fixed-width key keeps the log's primary key small.
ALTER TABLE checkpoints ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_id_key UNIQUE (id);
ALTER TABLE checkpoints ADD COLUMN meta bytea NOT NULL DEFAULT '';
-- state stays as the legacy whole-state snapshot of an older build: the
-- first incremental save sets it to '' (empty means no legacy snapshot).

-- The log's bookkeeping, changed only under the row's lock: the bytes of
-- the log as of its last compaction (base_bytes) and appended since
-- (log_bytes), the highest seq of the compacted entries (each key there at
-- most once), and the keys the compaction kept.
ALTER TABLE checkpoints ADD COLUMN base_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN base_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE checkpoints ADD COLUMN live_keys bigint NOT NULL DEFAULT 0;
-- saves counts the saves of the partition's state: a state read without a
-- claim (a restarting instance warming up) is current as long as it holds.
ALTER TABLE checkpoints ADD COLUMN saves bigint NOT NULL DEFAULT 0;

-- Every save updates the partition's row (offset, meta, updated_at), some
-- every two seconds: half-empty pages let those updates stay HOT (on the
-- same page, no index entry), and a vacuum as soon as a few dead versions
-- pile up, unthrottled, keeps the small table small. The same for its
-- TOAST table, where the legacy snapshots and any large meta live.
ALTER TABLE checkpoints SET (
    fillfactor = 50,
    autovacuum_vacuum_threshold = 50,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_cost_delay = 0,
    toast.autovacuum_vacuum_threshold = 50,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_cost_delay = 0
);

-- A partition's log: blobs of entries (key, data or deleted), read newest
-- seq first, the first entry of a key winning. Rows are only inserted and
-- deleted, never updated: a blob's bytes live in the TOAST table, in 2 KB
-- chunks, and a compaction deletes all of a partition's older blobs at once.
--
-- No foreign key to checkpoints: checkpoints rows are never deleted.
-- Whoever deletes one must delete its log too.
CREATE TABLE checkpoint_log (
    checkpoint_id bigint NOT NULL,
    seq           bigint NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (checkpoint_id, seq)
) WITH (
    -- A compaction leaves the partition's old blobs dead at once, and the
    -- save that compacted vacuums the table right after. Autovacuum is the
    -- fallback (a vacuum skipped because another ran): as soon as a few
    -- hundred rows are dead, whatever the table's size, since each dead row
    -- can hold megabytes of chunks.
    autovacuum_vacuum_threshold = 200,
    autovacuum_vacuum_scale_factor = 0,
    -- Unthrottled: the default 2 ms sleep every 200 pages lets a
    -- gigabyte of dead chunks outlive several compactions.
    autovacuum_vacuum_cost_delay = 0,
    -- The dead bytes are in the TOAST table, in 2 KB chunks (a 16 MB blob
    -- is 8,000): vacuum it once 20,000 chunks (~40 MB) are dead, however
    -- large the live state; its live chunks are never updated, so there is
    -- nothing else to reclaim.
    toast.autovacuum_vacuum_threshold = 20000,
    toast.autovacuum_vacuum_scale_factor = 0,
    toast.autovacuum_vacuum_cost_delay = 0,
    -- Appends alone (no compaction due yet) leave no dead tuples: vacuum
    -- them too now and then, so the visibility map stays current and the
    -- chunks are frozen a little at a time, not all at once.
    toast.autovacuum_vacuum_insert_threshold = 100000,
    toast.autovacuum_vacuum_insert_scale_factor = 0.2
);

-- Blobs are the engine's encoding (incompressible varints and ids) and are
-- read only on a restore, while written every few seconds: compressing them
-- (pglz, the default for bytea) costs CPU on every save for little space.
-- Out of line when large, never compressed.
ALTER TABLE checkpoint_log ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
-- An older build cannot read the log: the state of a partition saved
-- incrementally is lost, and it resumes at its offset with an empty state.
DROP TABLE checkpoint_log;
ALTER TABLE checkpoints RESET (
    fillfactor,
    autovacuum_vacuum_threshold,
    autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_cost_delay,
    toast.autovacuum_vacuum_threshold,
    toast.autovacuum_vacuum_scale_factor,
    toast.autovacuum_vacuum_cost_delay
);
ALTER TABLE checkpoints DROP COLUMN saves;
ALTER TABLE checkpoints DROP COLUMN live_keys;
ALTER TABLE checkpoints DROP COLUMN base_seq;
ALTER TABLE checkpoints DROP COLUMN log_bytes;
ALTER TABLE checkpoints DROP COLUMN base_bytes;
ALTER TABLE checkpoints DROP COLUMN meta;
ALTER TABLE checkpoints DROP COLUMN id;
