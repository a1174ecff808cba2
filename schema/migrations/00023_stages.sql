-- +goose Up
-- The stages marketing and sales agreed on, as versions: every save is a
-- new row, the newest is in force, and none is ever changed, so the
-- history of the definition of sales-ready is the table itself.
CREATE TABLE stage_models (
    version         integer PRIMARY KEY CHECK (version > 0),
    stages          jsonb NOT NULL,
    accepted_stage  text NOT NULL DEFAULT '',
    saved_by        text NOT NULL,
    saved_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Where each account stands. Accounts only move forward, by the position
-- of their stages in the model in force when they move.
CREATE TABLE account_stages (
    account_id  text PRIMARY KEY,
    stage       text NOT NULL,
    since       timestamptz NOT NULL DEFAULT now()
);

-- Every move, tied to the alert that caused it: one move per alert and
-- cause, so that a replayed alert (stored once) or a repeated acceptance
-- never moves an account twice. Erasing an alert erases its moves.
CREATE TABLE stage_transitions (
    id             bigserial PRIMARY KEY,
    account_id     text NOT NULL,
    from_stage     text NOT NULL DEFAULT '',
    to_stage       text NOT NULL,
    alert_id       text NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    signal_id      text NOT NULL,
    cause          text NOT NULL CHECK (cause IN ('signal', 'handoff')),
    changed_by     text NOT NULL DEFAULT '',
    model_version  integer NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alert_id, cause)
);
CREATE INDEX stage_transitions_account ON stage_transitions (account_id, id);

-- A rep's acceptance or rejection of an alert's handoff, on their
-- delivery of it, with a reason from the feedback reasons.
ALTER TABLE deliveries
    ADD COLUMN handoff         text CHECK (handoff IN ('accept', 'reject')),
    ADD COLUMN handoff_reason  text REFERENCES feedback_reasons (id) ON UPDATE CASCADE,
    ADD COLUMN handoff_note    text NOT NULL DEFAULT '',
    ADD COLUMN handoff_at      timestamptz;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN handoff_at, DROP COLUMN handoff_note, DROP COLUMN handoff_reason, DROP COLUMN handoff;
DROP TABLE stage_transitions;
DROP TABLE account_stages;
DROP TABLE stage_models;
