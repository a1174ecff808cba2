-- +goose Up
-- People and accounts who asked not to be tracked: their events are
-- dropped before any state is kept.
CREATE TABLE do_not_track (
    kind        text NOT NULL CHECK (kind IN ('customer', 'account')),
    id          text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);

-- +goose Down
DROP TABLE do_not_track;
