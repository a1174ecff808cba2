-- +goose Up
-- Follow-up rules (issue #16): an alert nobody acknowledged in time
-- escalates, first to the rep's managers, then to the next rep of the
-- account's territory rules.

-- A user's calendar: the working hours in which follow-up time counts,
-- and an absence (out of office) during which routing and escalation pass
-- them over. work_days are ISO weekdays (1 Monday .. 7 Sunday); no row, or
-- no work days, counts time round the clock.
CREATE TABLE user_calendars (
    user_id     text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    time_zone   text NOT NULL DEFAULT 'UTC',
    work_days   smallint[] NOT NULL DEFAULT '{}',
    -- Minutes after midnight, local time: [work_start, work_end).
    work_start  integer NOT NULL DEFAULT 0 CHECK (work_start BETWEEN 0 AND 1440),
    work_end    integer NOT NULL DEFAULT 1440 CHECK (work_end BETWEEN 0 AND 1440),
    away_from   timestamptz,
    away_until  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Where each alert with a rep stands: the next step to take and when it
-- is due (NULL until the escalator has computed the first deadline from
-- the rep's calendar); done_at and stop_reason once it ends (acknowledged,
-- no rule for the priority, every step taken). Written by a trigger so
-- that the statement that stores an alert needs no change: an alert stored
-- is an alert whose follow-up is tracked, in the same transaction.
CREATE TABLE alert_escalations (
    alert_id     text PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    rep_id       text NOT NULL,
    priority     text NOT NULL,
    created_at   timestamptz NOT NULL,
    next_step    integer NOT NULL DEFAULT 1,
    next_at      timestamptz,
    done_at      timestamptz,
    stop_reason  text NOT NULL DEFAULT ''
);
CREATE INDEX alert_escalations_due ON alert_escalations (next_at NULLS FIRST) WHERE done_at IS NULL;

-- +goose StatementBegin
CREATE FUNCTION track_alert_escalation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(NEW.body->>'rep', '') <> '' THEN
        INSERT INTO alert_escalations (alert_id, rep_id, priority, created_at)
        VALUES (NEW.id, NEW.body->>'rep', NEW.priority, NEW.created_at)
        ON CONFLICT (alert_id) DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER alerts_track_escalation AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION track_alert_escalation();

-- Every step taken: to whom (empty when there was nobody to take it to),
-- when (the escalator's clock) and why. The key makes each step happen
-- once, whichever instance takes it.
CREATE TABLE escalation_steps (
    alert_id    text NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    step        integer NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('managers', 'territory')),
    to_users    text[] NOT NULL,
    reason      text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (alert_id, step)
);

-- An escalation step sends the alert to its new recipients' channels
-- again: one channel delivery per (alert, channel, step); 0 is the alert's
-- own.
ALTER TABLE channel_deliveries ADD COLUMN escalation_step integer NOT NULL DEFAULT 0;
ALTER TABLE channel_deliveries DROP CONSTRAINT channel_deliveries_alert_id_channel_id_key;
ALTER TABLE channel_deliveries ADD CONSTRAINT channel_deliveries_alert_channel_step UNIQUE (alert_id, channel_id, escalation_step);

-- +goose Down
DELETE FROM channel_deliveries WHERE escalation_step <> 0;
ALTER TABLE channel_deliveries DROP CONSTRAINT channel_deliveries_alert_channel_step;
ALTER TABLE channel_deliveries ADD CONSTRAINT channel_deliveries_alert_id_channel_id_key UNIQUE (alert_id, channel_id);
ALTER TABLE channel_deliveries DROP COLUMN escalation_step;
DROP TABLE escalation_steps;
DROP TRIGGER alerts_track_escalation ON alerts;
DROP FUNCTION track_alert_escalation();
DROP TABLE alert_escalations;
DROP TABLE user_calendars;
