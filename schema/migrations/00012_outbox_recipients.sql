-- +goose Up
-- An outbox row names its alert and the deliveries the alert's transaction
-- numbered; the alerts-topic message is encoded from them in Go when the
-- row is published, so the statement that stores an alert builds no JSON.
-- Rows an older version wrote keep their encoded payload and are
-- published as they are.
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN recipients text[];
ALTER TABLE outbox ADD COLUMN seqs bigint[];

-- +goose Down
-- An older version cannot encode a row without its payload: such rows are
-- dropped (their alerts stay stored and reach the sockets from PostgreSQL).
DELETE FROM outbox WHERE payload IS NULL;
ALTER TABLE outbox DROP COLUMN seqs;
ALTER TABLE outbox DROP COLUMN recipients;
ALTER TABLE outbox ALTER COLUMN payload SET NOT NULL;
