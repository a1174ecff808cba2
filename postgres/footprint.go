package postgres

import (
	"context"
	"fmt"
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
