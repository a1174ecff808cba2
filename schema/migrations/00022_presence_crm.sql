-- +goose Up
-- Presence across instances (issue #16): each instance keeps a row per
-- user with a stream open on it, renewed in batches before expires_at; a
-- dead instance's rows simply expire. Unlogged: the rows are rebuilt
-- within one renewal after a PostgreSQL crash, and are not worth WAL.
CREATE UNLOGGED TABLE presence (
    instance    text NOT NULL,
    user_id     text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (instance, user_id)
);
CREATE INDEX presence_expires ON presence (expires_at);

-- CRM write-back: a "crm" channel sends a request built from its
-- templates (crm) per alert, and per verdict when it has a verdict
-- template. A verdict's delivery row carries the verdict as it was given
-- (verdict), and is unique per (alert, channel, escalation step, verdict's
-- user, verdict's time), so each verdict given is sent once. An index, not
-- a constraint: a digest's delivery has no alert (NULL, distinct), and an
-- alert's delivery no verdict time (taken as -infinity, not distinct).
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check CHECK (kind IN ('webhook', 'slack', 'teams', 'email', 'crm'));
ALTER TABLE channels ADD COLUMN crm jsonb;
ALTER TABLE channel_deliveries
    ADD COLUMN verdict_user text NOT NULL DEFAULT '',
    ADD COLUMN verdict_at   timestamptz,
    ADD COLUMN verdict      jsonb;
ALTER TABLE channel_deliveries DROP CONSTRAINT channel_deliveries_alert_channel_step;
CREATE UNIQUE INDEX channel_deliveries_once ON channel_deliveries
    (alert_id, channel_id, escalation_step, verdict_user, coalesce(verdict_at, '-infinity'));

-- +goose Down
DELETE FROM channel_deliveries WHERE verdict_at IS NOT NULL;
DROP INDEX channel_deliveries_once;
ALTER TABLE channel_deliveries ADD CONSTRAINT channel_deliveries_alert_channel_step UNIQUE (alert_id, channel_id, escalation_step);
ALTER TABLE channel_deliveries DROP COLUMN verdict, DROP COLUMN verdict_at, DROP COLUMN verdict_user;
DELETE FROM channels WHERE kind = 'crm';
ALTER TABLE channels DROP COLUMN crm;
ALTER TABLE channels DROP CONSTRAINT channels_kind_check;
ALTER TABLE channels ADD CONSTRAINT channels_kind_check CHECK (kind IN ('webhook', 'slack', 'teams', 'email'));
DROP TABLE presence;
