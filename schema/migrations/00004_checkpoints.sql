-- +goose Up
-- A partition's detector state and the offset it reflects, written in one
-- statement: restoring both together is what makes a restart or a
-- rebalance resume exactly where the state left off. next_offset is -1
-- for a claimed partition with nothing saved yet.
CREATE TABLE checkpoints (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    state        bytea NOT NULL,
    -- The instance that claimed the partition last; only it may save. A
    -- zombie owner (one the group gave up on) is fenced off by this.
    owner        text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- +goose Down
DROP TABLE checkpoints;
