package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"math"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser/schema"
)

// MigrateTo applies the embedded migrations up to version only, so that a
// test can write rows the way an older build left them.
func (s *DB) MigrateTo(ctx context.Context, version int64) error {
	migrations, err := fs.Sub(schema.Migrations, "migrations")
	if err != nil {
		return err
	}
	if err := s.migrate(ctx, migrations, version); err != nil {
		return fmt.Errorf("migrating to %d: %w", version, err)
	}
	return nil
}

// MigrationLockKey is the advisory lock key that Migrate holds.
const MigrationLockKey = migrationLockKey

// MigrateFrom applies the migrations in fsys as Migrate applies the
// embedded ones: a build with other migrations than this one.
func (s *DB) MigrateFrom(ctx context.Context, fsys fs.FS) error {
	return s.migrate(ctx, fsys, math.MaxInt64)
}

// SetCompaction makes s compact once minBytes are appended (and as many
// as the last compaction left) and cut blobs at maxPiece bytes, so that
// tests see both with little data.
func (s *Checkpoints) SetCompaction(minBytes int64, maxPiece int) {
	s.compactMin, s.pieceMax = minBytes, maxPiece
}

// Compactions is how many compactions s has run.
func (s *Checkpoints) Compactions() int64 { return s.stats.runs.Load() }

// Pool lets a test change the checkpoint tables behind the store's back.
func (s *Checkpoints) Pool() *pgxpool.Pool { return s.pool }

// HoldCompaction takes the compaction semaphore as a running compaction
// would, until release.
func (s *Checkpoints) HoldCompaction() (release func()) {
	if !s.compacting.CompareAndSwap(false, true) {
		panic("compaction already held")
	}
	return func() { s.compacting.Store(false) }
}

// ParseLogBlob calls fn with each entry of a log blob (nil data: deleted).
func ParseLogBlob(blob []byte, fn func(key, data []byte) error) error { return parseBlob(blob, fn) }
