-- +goose Up
-- Managers are people who follow the alerts of the reps they subscribe to.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('rep', 'marketer', 'admin', 'source', 'manager'));

-- Territory attributes: which territory rule an account without an owner
-- falls under. Empty is unknown.
ALTER TABLE accounts ADD COLUMN region text NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN industry text NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN size text NOT NULL DEFAULT '';

-- A person (a customer id of the events) whose alerts go to a rep of
-- their own, whatever their account's owner; account_id links a person
-- whose events carry no account.
CREATE TABLE contacts (
    id          text PRIMARY KEY,
    owner_id    text,
    account_id  text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Who gets the alerts of an account without an owner: the first rule, by
-- priority then id, whose non-empty attributes all equal the account's.
CREATE TABLE territory_rules (
    id          text PRIMARY KEY,
    priority    integer NOT NULL DEFAULT 0,
    region      text NOT NULL DEFAULT '',
    industry    text NOT NULL DEFAULT '',
    size        text NOT NULL DEFAULT '',
    rep_id      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A manager receives every alert addressed to a rep they subscribe to.
CREATE TABLE manager_subscriptions (
    manager_id  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rep_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (manager_id, rep_id)
);
CREATE INDEX manager_subscriptions_rep ON manager_subscriptions (rep_id);

-- When the recipient's panel showed the alert (acked_at: when they
-- acknowledged it).
ALTER TABLE deliveries ADD COLUMN seen_at timestamptz;

-- Precision per signal counts deliveries by the alert's signal.
CREATE INDEX alerts_signal ON alerts (signal_id);

-- +goose Down
DROP INDEX alerts_signal;
ALTER TABLE deliveries DROP COLUMN seen_at;
DROP TABLE manager_subscriptions;
DROP TABLE territory_rules;
DROP TABLE contacts;
ALTER TABLE accounts DROP COLUMN size;
ALTER TABLE accounts DROP COLUMN industry;
ALTER TABLE accounts DROP COLUMN region;
DELETE FROM users WHERE role = 'manager';
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('rep', 'marketer', 'admin', 'source'));
