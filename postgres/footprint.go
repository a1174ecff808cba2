package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Footprint is what the database occupies, for `dowser bench`.
type Footprint struct {
	// Database is pg_database_size of the current database.
	Database int64
	// Checkpoints is pg_total_relation_size (indexes and TOAST included)
	// summed over every table whose name starts with "checkpoint".
	Checkpoints int64
	// WAL is the server's current WAL position in bytes: the difference
	// of two is what the whole server wrote in between.
	WAL int64
}

// Footprint measures the database's size, its checkpoint tables' and the
// server's WAL position, in one statement.
func (s *DB) Footprint(ctx context.Context) (Footprint, error) {
	var f Footprint
	err := s.pool.QueryRow(ctx, `
		SELECT pg_database_size(current_database()),
			COALESCE((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
				JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname LIKE 'checkpoint%'), 0)::bigint,
			pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint`).Scan(&f.Database, &f.Checkpoints, &f.WAL)
	if err != nil {
		return f, fmt.Errorf("measuring the database's footprint: %w", err)
	}
	return f, nil
}

// AlertsStored is, by account, when the first alert of each of accounts
// was stored (its transaction's start), for `dowser bench` to tell the
// time before an alert's transaction from the time after it.
func (s *DB) AlertsStored(ctx context.Context, accounts []string) (map[string]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_id, min(created_at) FROM alerts WHERE account_id = ANY($1) GROUP BY account_id`, accounts)
	if err != nil {
		return nil, fmt.Errorf("reading when alerts were stored: %w", err)
	}
	out := map[string]time.Time{}
	var acct string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&acct, &at}, func() error {
		out[acct] = at
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading when alerts were stored: %w", err)
	}
	return out, nil
}
