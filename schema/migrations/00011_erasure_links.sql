-- +goose Up
-- Which anonymous ids are known to be which person: learnt from every
-- event that carries both, so that an erasure reaches the alerts and
-- evidence of the person's anonymous visits too. Erasure deletes them.
CREATE TABLE identity_links (
    customer_id   text NOT NULL,
    anonymous_id  text NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, anonymous_id)
);
CREATE INDEX identity_links_anonymous ON identity_links (anonymous_id);
CREATE INDEX identity_links_last_seen ON identity_links (last_seen_at);

-- The anonymous ids an erasure also applies to, for the detectors.
ALTER TABLE erasures ADD COLUMN linked_ids text[] NOT NULL DEFAULT '{}';

-- Erased alerts whose tombstone (a null value under the alert's id) is
-- still to be written to the alerts topic; a row goes once it is written.
CREATE TABLE alert_tombstones (
    alert_id    text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The server secret that keys the erasure audit's hash and the
-- pseudonyms in logs when no --privacy-key is given: one row, created
-- by the first instance to start, shared by all.
CREATE TABLE privacy_key (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    key         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Entries written before this migration hold a plain SHA-256 of the id,
-- which anyone can recompute for a guessable id; newer ones an
-- HMAC-SHA256 keyed with the server secret.
ALTER TABLE erasure_audit ADD COLUMN subject_hash_scheme text NOT NULL DEFAULT 'sha256';

-- +goose Down
ALTER TABLE erasure_audit DROP COLUMN subject_hash_scheme;
DROP TABLE privacy_key;
DROP TABLE alert_tombstones;
ALTER TABLE erasures DROP COLUMN linked_ids;
DROP TABLE identity_links;
