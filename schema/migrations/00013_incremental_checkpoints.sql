-- +goose Up
-- Incremental checkpoints (#13). A partition's state is kept as one row per
-- subject, and a checkpoint writes only the rows that changed since the
-- previous one; the checkpoints row keeps the offset, the owner and the
-- engine's small header (meta). Rewriting the whole state as one blob every
-- few seconds bloated the table to 70 times its live size and took seconds
-- per save at 650k subjects per partition.

-- The rows hang off this id rather than off (group_id, topic, partition):
-- a short fixed-width key keeps the rows table's primary key small.
ALTER TABLE checkpoints ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_id_key UNIQUE (id);
ALTER TABLE checkpoints ADD COLUMN meta bytea NOT NULL DEFAULT '';
-- state stays as the legacy whole-state snapshot of an older build: the
-- first incremental save sets it to '' (empty means no legacy snapshot).

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

-- One row per subject of a partition's state (or per part of the engine,
-- such as "#recent/3"); a delete-then-upsert per changed key is how every
-- save writes it.
--
-- No foreign key to checkpoints: checking it would cost an index probe on
-- every inserted row, and checkpoints rows are never deleted. Whoever
-- deletes one must delete its rows too.
CREATE TABLE checkpoint_rows (
    checkpoint_id bigint NOT NULL,
    key           text NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (checkpoint_id, key)
) WITH (
    -- The same keys are rewritten all day; an update that changes only data
    -- (not an indexed column) can be HOT if its page has room, which leaves
    -- no new index entry and lets any later reader prune the old version
    -- without waiting for vacuum. 70 leaves room for a few new versions per
    -- page at ~300 bytes a row while costing 30% more pages to restore.
    fillfactor = 70,
    -- Vacuum after 2% of the rows (plus 1000) are dead, not the default 20%:
    -- the dead versions are reused only once vacuum has marked them free.
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_scale_factor = 0.02,
    -- Steady upserts also insert new keys; vacuum those pages too, so the
    -- visibility map (and index-only pages) stay current.
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    -- The restore's plan (scan the table or the key's index) depends on a
    -- checkpoint's share of the rows, which changes as partitions grow.
    autovacuum_analyze_scale_factor = 0.05,
    -- Unthrottled: the default 2 ms sleep every 200 pages lets a
    -- gigabyte table fall behind a save every two seconds.
    autovacuum_vacuum_cost_delay = 0,
    -- The rare large row (tens of KB) lives in the TOAST table, where every
    -- rewrite leaves a dead chunk per 2 KB: vacuumed on the same terms.
    toast.autovacuum_vacuum_threshold = 1000,
    toast.autovacuum_vacuum_scale_factor = 0.02,
    toast.autovacuum_vacuum_cost_delay = 0
);

-- Rows are small (100-400 bytes: never compressed nor moved out of line
-- whatever the storage) and read only on a restore, while written every
-- few seconds: compressing the large ones (pglz, the default for bytea)
-- costs CPU on every save for space that a restore does not miss. Out of
-- line when large, never compressed.
ALTER TABLE checkpoint_rows ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
-- An older build cannot read rows: the state of a partition saved
-- incrementally is lost, and it resumes at its offset with an empty state.
DROP TABLE checkpoint_rows;
ALTER TABLE checkpoints RESET (
    fillfactor,
    autovacuum_vacuum_threshold,
    autovacuum_vacuum_scale_factor,
    autovacuum_vacuum_cost_delay,
    toast.autovacuum_vacuum_threshold,
    toast.autovacuum_vacuum_scale_factor,
    toast.autovacuum_vacuum_cost_delay
);
ALTER TABLE checkpoints DROP COLUMN meta;
ALTER TABLE checkpoints DROP COLUMN id;
