-- +goose Up
-- A recipient may snooze an alert until a time: it leaves their list until
-- then, and comes back by itself. (Numbered apart from its neighbours so
-- that migrations written at the same time do not collide.)
ALTER TABLE deliveries ADD COLUMN snoozed_until timestamptz;
-- Listing every alert (admins) pages by creation time and id.
CREATE INDEX alerts_created_at_id ON alerts (created_at DESC, id DESC);

-- +goose Down
DROP INDEX alerts_created_at_id;
ALTER TABLE deliveries DROP COLUMN snoozed_until;
