-- +goose Up
-- A user's channels beyond the panel (issue #16): where their alerts are
-- also sent. A webhook signs with its secret, and during a rotation with
-- the previous one too, so a receiver never sees a gap. A channel whose
-- deliveries keep failing is paused (paused_at, pause_reason) until its
-- owner changes it.
CREATE TABLE channels (
    id                bigserial PRIMARY KEY,
    user_id           text NOT NULL REFERENCES users (id),
    kind              text NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'email')),
    target            text NOT NULL,
    enabled           boolean NOT NULL DEFAULT true,
    secret            text NOT NULL DEFAULT '',
    previous_secret   text NOT NULL DEFAULT '',
    failures_in_row   integer NOT NULL DEFAULT 0,
    paused_at         timestamptz,
    pause_reason      text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX channels_user ON channels (user_id);

-- The outbox of channel deliveries: one row per (alert, channel) written by
-- the statement that stores the alert, so a stored alert is an alert that
-- will be sent, and a replayed alert (its id stored already) adds none.
-- The id is the delivery id the receiver sees on every attempt. next_at is
-- when the row is due: a dispatcher that claims it moves it past its lease,
-- so a row whose dispatcher died becomes due again.
CREATE TABLE channel_deliveries (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id      text NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id       text NOT NULL,
    channel_id    bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL DEFAULT now(),
    last_error    text NOT NULL DEFAULT '',
    last_status   integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    UNIQUE (alert_id, channel_id)
);
CREATE INDEX channel_deliveries_due ON channel_deliveries (next_at) WHERE status = 'pending';
CREATE INDEX channel_deliveries_channel ON channel_deliveries (channel_id, created_at DESC);

-- +goose Down
DROP TABLE channel_deliveries;
DROP TABLE channels;
