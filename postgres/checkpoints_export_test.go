package postgres

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/dowserhq/dowser/schema"
)

// MigrateTo applies the embedded migrations up to version only, so that a
// test can write rows the way an older build left them.
func (s *DB) MigrateTo(ctx context.Context, version int64) error {
	migrations, err := fs.Sub(schema.Migrations, "migrations")
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		return err
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("migrating to %d: %w", version, err)
	}
	return nil
}

// LoadRowsCopy is the binary COPY that BenchmarkLoadCheckpointRows
// measures LoadCheckpointRows against.
func (s *Checkpoints) LoadRowsCopy(ctx context.Context, id int64, fn func(string, []byte) error) error {
	return s.loadRowsCopy(ctx, id, fn)
}

// SaveChunkRows is the most rows one statement of a save writes.
const SaveChunkRows = saveChunkRows

// Pool lets a test change the checkpoint tables behind the store's back.
func (s *Checkpoints) Pool() *pgxpool.Pool { return s.pool }
