-- +goose Up
-- Alerts waiting to be published to the alerts topic. A row is written in
-- the same transaction as its alert, so an alert stored is an alert that
-- will reach every instance's sockets, even if the detector dies right
-- after the commit.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    alert_id      text NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE outbox;
