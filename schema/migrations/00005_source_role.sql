-- +goose Up
-- Upstream systems that cannot speak Kafka post events over HTTP with a
-- token of their own, which may do nothing else.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('rep', 'marketer', 'admin', 'source'));

-- +goose Down
DELETE FROM users WHERE role = 'source';
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('rep', 'marketer', 'admin'));
