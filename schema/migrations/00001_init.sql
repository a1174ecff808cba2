-- +goose Up
CREATE TABLE users (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('rep', 'marketer', 'admin')),
    -- SHA-256 of the bearer token: a database dump does not hand out logins.
    token_hash  bytea UNIQUE,
    -- Highest per-recipient delivery sequence handed out; incremented under
    -- the row lock so a user's seqs are gap-free and in commit order.
    last_seq    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id_hash     bytea PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL
);

CREATE TABLE accounts (
    id          text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    owner_id    text,
    lifecycle   text NOT NULL DEFAULT 'prospect' CHECK (lifecycle IN ('prospect', 'customer')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE content (
    id          text PRIMARY KEY,
    title       text NOT NULL DEFAULT '',
    url_prefix  text NOT NULL DEFAULT '',
    owner_id    text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every saved definition is an immutable version; alerts name the version
-- that fired them.
CREATE TABLE signal_versions (
    id          text NOT NULL,
    version     integer NOT NULL,
    document    jsonb NOT NULL,
    source      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, version)
);

CREATE TABLE signals (
    id          text PRIMARY KEY,
    version     integer NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    deleted     boolean NOT NULL DEFAULT false,
    -- clock_timestamp so that detectors polling max(updated_at) see every
    -- change, even two within one transaction's now().
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    FOREIGN KEY (id, version) REFERENCES signal_versions (id, version)
);

CREATE TABLE alerts (
    id              text PRIMARY KEY,
    signal_id       text NOT NULL,
    signal_version  integer NOT NULL,
    subject         text NOT NULL,
    customer_id     text NOT NULL,
    account_id      text NOT NULL DEFAULT '',
    priority        text NOT NULL,
    event_id        text NOT NULL,
    event_time      timestamptz NOT NULL,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_created_at ON alerts (created_at);

CREATE TABLE alert_evidence (
    alert_id    text NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    event_time  timestamptz NOT NULL,
    customer_id text NOT NULL DEFAULT '',
    content_id  text NOT NULL DEFAULT '',
    url         text NOT NULL DEFAULT '',
    PRIMARY KEY (alert_id, position)
);

CREATE TABLE deliveries (
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    alert_id    text NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    acked_at    timestamptz,
    verdict     text CHECK (verdict IN ('useful', 'not_useful', 'won')),
    note        text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, seq),
    UNIQUE (user_id, alert_id)
);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE alert_evidence;
DROP TABLE alerts;
DROP TABLE signals;
DROP TABLE signal_versions;
DROP TABLE content;
DROP TABLE accounts;
DROP TABLE sessions;
DROP TABLE users;
