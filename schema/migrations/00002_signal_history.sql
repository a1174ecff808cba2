-- +goose Up
-- Who did what to a signal, and when: saves (a new version), enables,
-- disables and deletes. Versions themselves stay in signal_versions.
CREATE TABLE signal_changes (
    id          bigserial PRIMARY KEY,
    signal_id   text NOT NULL,
    version     integer NOT NULL,
    action      text NOT NULL CHECK (action IN ('saved', 'enabled', 'disabled', 'deleted')),
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX signal_changes_signal ON signal_changes (signal_id, id);

INSERT INTO signal_changes (signal_id, version, action, changed_by, changed_at)
SELECT id, version, 'saved', created_by, created_at FROM signal_versions;

-- +goose Down
DROP TABLE signal_changes;
