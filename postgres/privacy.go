package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of do-not-track entries.
const (
	DNTCustomer = "customer"
	DNTAccount  = "account"
)

// SetDoNotTrack marks (on) or unmarks a customer or an account as not to be
// tracked.
func (s *Store) SetDoNotTrack(ctx context.Context, kind, id string, on bool, by string) error {
	var err error
	if on {
		_, err = s.pool.Exec(ctx, `INSERT INTO do_not_track (kind, id, created_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, kind, id, by)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM do_not_track WHERE kind = $1 AND id = $2`, kind, id)
	}
	if err != nil {
		return fmt.Errorf("setting do-not-track of %s %q: %w", kind, id, err)
	}
	return nil
}

// DoNotTrack returns every do-not-track entry, as kind -> set of ids.
func (s *Store) DoNotTrack(ctx context.Context) (map[string]map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, id FROM do_not_track`)
	if err != nil {
		return nil, fmt.Errorf("reading do-not-track: %w", err)
	}
	out := map[string]map[string]bool{DNTCustomer: {}, DNTAccount: {}}
	var kind, id string
	_, err = pgx.ForEachRow(rows, []any{&kind, &id}, func() error {
		out[kind][id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading do-not-track: %w", err)
	}
	return out, nil
}

// PurgeAlertsBefore deletes the alerts created before cutoff, with their
// evidence, deliveries and outbox rows, at most limit at a time so that a
// large purge never holds long locks; it returns how many it deleted.
func (s *Store) PurgeAlertsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purging alerts before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}
