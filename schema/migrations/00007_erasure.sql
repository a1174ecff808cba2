-- +goose Up
-- Erasure requests on their way to every detector. A row holds the
-- person's id only until every partition's checkpoint has applied it;
-- the audit entry keeps no personal data.
CREATE TABLE erasures (
    seq          bigserial PRIMARY KEY,
    customer_id  text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE erasure_audit (
    seq             bigint PRIMARY KEY,
    -- SHA-256 of the customer id: proves which request this was to whoever
    -- holds the id, tells nobody else anything.
    subject_sha256  text NOT NULL,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    alerts_deleted  integer NOT NULL
);

-- The last erasure a checkpoint's state has applied.
ALTER TABLE checkpoints ADD COLUMN erasure_seq bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE checkpoints DROP COLUMN erasure_seq;
DROP TABLE erasure_audit;
DROP TABLE erasures;
