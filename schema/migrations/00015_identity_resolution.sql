-- +goose Up
-- The identity graph of the resolution stage (package resolve): which
-- customer each anonymous id is, learnt from events that carry both, kept
-- for every source partition at once (the stage re-keys events by it), and
-- without a cap. E-mail addresses are not part of it: Dowser stores none.
CREATE TABLE identity_graph (
    anonymous_id  text PRIMARY KEY,
    customer_id   text NOT NULL,
    account_id    text NOT NULL DEFAULT '',
    lifecycle     text NOT NULL DEFAULT '',
    linked_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_graph_customer ON identity_graph (customer_id);

-- The events of anonymous ids not linked yet, as the stage passed them on,
-- so that a later link re-emits them for the customer. A row goes when its
-- anonymous id is linked (re-emitted), when it is older than the longest
-- signal horizon, or with an erasure.
CREATE TABLE identity_pending (
    anonymous_id  text NOT NULL,
    event_id      text NOT NULL,
    seq           bigserial,
    event_time    timestamptz NOT NULL,
    event         bytea NOT NULL,
    PRIMARY KEY (anonymous_id, event_id)
);
CREATE INDEX identity_pending_time ON identity_pending (event_time);

-- +goose Down
DROP TABLE identity_pending;
DROP TABLE identity_graph;
