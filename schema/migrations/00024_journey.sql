-- +goose Up
-- The buyer's journey (issue #15): what each person and account consumed
-- in the last --journey-days, beyond an alert's evidence. One small row
-- per accepted event, written in batches off the event path. The table is
-- partitioned by the day of the event (UTC), so retention drops whole
-- partitions and leaves no dead tuples; the service creates the
-- partitions ahead (journey_YYYYMMDD) and drops the old ones. Rows keep
-- the title and the URL's path only, never the event's properties.
CREATE TABLE journey (
    event_time    timestamptz NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    account_id    text NOT NULL DEFAULT '',
    customer_id   text NOT NULL DEFAULT '',
    anonymous_id  text NOT NULL DEFAULT '',
    content_id    text NOT NULL DEFAULT '',
    title         text NOT NULL DEFAULT '',
    url_path      text NOT NULL DEFAULT ''
) PARTITION BY RANGE (event_time);
CREATE INDEX journey_account ON journey (account_id, event_time DESC) WHERE account_id <> '';
CREATE INDEX journey_customer ON journey (customer_id, event_time DESC) WHERE customer_id <> '';
CREATE INDEX journey_anonymous ON journey (anonymous_id) WHERE anonymous_id <> '';

-- The marketer's talking point of a content item: shown with the item
-- in the journey ("if they read this, ask about X").
ALTER TABLE content ADD COLUMN talking_point text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE content DROP COLUMN talking_point;
DROP TABLE journey;
