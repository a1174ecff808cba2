-- +goose Up
-- E-mail digests (issue #16): an e-mail channel with digest times collects
-- its user's non-urgent alerts and mails them as one message at each of
-- those times, in its time zone. digest_seq is the user's last delivery
-- sequence a digest covered (its alerts are the user's deliveries after
-- it); digest_slot_at the last digest time handled, so that a time is
-- handled once however many instances see it come.
ALTER TABLE channels
    ADD COLUMN digest_times   text[] NOT NULL DEFAULT '{}',
    ADD COLUMN time_zone      text NOT NULL DEFAULT '',
    ADD COLUMN digest_seq     bigint NOT NULL DEFAULT 0,
    ADD COLUMN digest_slot_at timestamptz;

-- One digest: the alerts it covers, for one digest time of one channel.
-- Its delivery is a row of the channel outbox like any other (digest_id
-- set instead of alert_id), sent, retried and marked the same way.
CREATE TABLE channel_digests (
    id          bigserial PRIMARY KEY,
    channel_id  bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    user_id     text NOT NULL,
    slot_at     timestamptz NOT NULL,
    alert_ids   text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, slot_at)
);
ALTER TABLE channel_deliveries
    ALTER COLUMN alert_id DROP NOT NULL,
    ADD COLUMN digest_id bigint UNIQUE REFERENCES channel_digests (id) ON DELETE CASCADE,
    ADD CONSTRAINT channel_deliveries_alert_or_digest CHECK ((alert_id IS NULL) <> (digest_id IS NULL));

-- One-click links: a link's nonce is recorded, in the transaction that
-- does what the link says, when it is used; a second use finds it. Rows
-- past their expiry are of no more use (the signature check refuses the
-- link first) and are purged.
CREATE TABLE link_uses (
    nonce       text PRIMARY KEY,
    user_id     text NOT NULL,
    alert_id    text NOT NULL,
    action      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_uses_expires ON link_uses (expires_at);

-- +goose Down
DROP TABLE link_uses;
DELETE FROM channel_deliveries WHERE digest_id IS NOT NULL;
ALTER TABLE channel_deliveries
    DROP CONSTRAINT channel_deliveries_alert_or_digest,
    DROP COLUMN digest_id,
    ALTER COLUMN alert_id SET NOT NULL;
DROP TABLE channel_digests;
ALTER TABLE channels
    DROP COLUMN digest_slot_at,
    DROP COLUMN digest_seq,
    DROP COLUMN time_zone,
    DROP COLUMN digest_times;
