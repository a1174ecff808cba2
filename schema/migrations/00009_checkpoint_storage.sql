-- +goose Up
-- A partition's state is rewritten every few seconds and read only when
-- the partition changes hands: compressing it on every write (pglz, the
-- default for bytea) cost more than the rest of the write, on the
-- partition's own goroutine. Stored out of line, uncompressed.
ALTER TABLE checkpoints ALTER COLUMN state SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE checkpoints ALTER COLUMN state SET STORAGE EXTENDED;
