-- +goose Up
-- The panel's header counts a user's unacknowledged alerts on every
-- change, and the team view lists the reps' deliveries by time.
CREATE INDEX deliveries_unacked ON deliveries (user_id) WHERE acked_at IS NULL;
CREATE INDEX deliveries_user_created ON deliveries (user_id, created_at);

-- +goose Down
DROP INDEX deliveries_user_created;
DROP INDEX deliveries_unacked;
