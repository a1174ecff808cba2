-- +goose Up
-- The reasons a rep can give with a "not useful" or "won" verdict, kept
-- by the marketers. A reason in use is retired rather than deleted, so the
-- verdicts that named it keep their meaning.
CREATE TABLE feedback_reasons (
    id          text PRIMARY KEY,
    label       text NOT NULL,
    position    integer NOT NULL DEFAULT 0,
    retired     boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO feedback_reasons (id, label, position) VALUES
    ('wrong-person', 'Wrong person', 10),
    ('already-in-touch', 'Already in touch', 20),
    ('no-budget', 'No budget', 30),
    ('timing', 'Timing', 40),
    ('competitor', 'Competitor', 50),
    ('other', 'Other', 60);

-- A verdict's reason, the opportunity value of a win, and when the verdict
-- was given. The note (already a column) and these go with the delivery,
-- so an erasure that deletes an alert deletes them too.
ALTER TABLE deliveries
    ADD COLUMN reason      text REFERENCES feedback_reasons (id) ON UPDATE CASCADE,
    ADD COLUMN value       numeric(16, 2) CHECK (value >= 0),
    ADD COLUMN verdict_at  timestamptz;
UPDATE deliveries SET verdict_at = acked_at WHERE verdict IS NOT NULL;
CREATE INDEX deliveries_reason ON deliveries (reason) WHERE reason IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_reason;
ALTER TABLE deliveries DROP COLUMN verdict_at, DROP COLUMN value, DROP COLUMN reason;
DROP TABLE feedback_reasons;
