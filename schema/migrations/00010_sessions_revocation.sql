-- +goose Up
-- A disabled user can neither log in nor use a session or token.
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
-- A deleted user keeps its row, so that the deliveries that reference it
-- (the history of the alerts it was sent) survive; its token and sessions
-- are gone and its id stays reserved.
ALTER TABLE users ADD COLUMN deleted_at timestamptz;

-- Every change that ends a user's sessions or tokens (logout, token
-- rotation, disabling, deletion), in commit order: each instance polls it
-- and re-checks the credentials of that user's open websockets. Writers
-- lock the table, so a reader that sees seq N has seen every seq below it.
CREATE TABLE session_revocations (
    seq         bigserial PRIMARY KEY,
    user_id     text NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_revocations_revoked_at ON session_revocations (revoked_at);

-- +goose Down
DROP TABLE session_revocations;
ALTER TABLE users DROP COLUMN deleted_at;
ALTER TABLE users DROP COLUMN disabled;
