-- +goose Up
-- Which decisions a feedback reason fits: a "not useful" verdict, a "won"
-- verdict, a rejected handoff. A reason the marketers added before keeps
-- fitting all three; the seeded ones get the kinds that read as sense
-- ("won: wrong person" does not). Only new verdicts and handoffs are held
-- to the kinds: the ones stored already keep their reasons.
ALTER TABLE feedback_reasons
    ADD COLUMN kinds text[] NOT NULL DEFAULT '{not_useful,won,reject}'
        CHECK (cardinality(kinds) > 0 AND kinds <@ '{not_useful,won,reject}');
UPDATE feedback_reasons SET kinds = '{not_useful,reject}'
    WHERE id IN ('wrong-person', 'already-in-touch', 'no-budget', 'timing');
-- Lost to a competitor, won against one, or an account a competitor holds.
UPDATE feedback_reasons SET kinds = '{not_useful,won,reject}' WHERE id IN ('competitor', 'other');
-- Reasons for a win, so that a won verdict has more to say than
-- "competitor" or "other". A marketer's reason of the same id stays.
INSERT INTO feedback_reasons (id, label, position, kinds) VALUES
    ('right-timing', 'Right timing', 52, '{won}'),
    ('champion', 'Champion inside', 54, '{won}')
ON CONFLICT (id) DO NOTHING;

-- +goose Down
-- The won reasons stay: verdicts may name them.
ALTER TABLE feedback_reasons DROP COLUMN kinds;
