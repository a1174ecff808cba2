package postgres_test

import (
	"context"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// migrationFiles are the embedded migrations' file names, in order.
func migrationFiles(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(schema.Migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no embedded migrations (%v)", err)
	}
	slices.Sort(files)
	return files
}

// schemaOf describes the database at url: every column of the public
// schema with its type, nullability and default, every index and
// constraint, and the applied migration versions with how often each was
// recorded.
func schemaOf(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var out []string
	for _, q := range []string{
		`SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		   FROM information_schema.columns WHERE table_schema = 'public'`,
		`SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'`,
		`SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
		   FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
		`SELECT 'version ' || version_id || ' x' || count(*) FROM goose_db_version WHERE is_applied GROUP BY version_id`,
	} {
		rows, err := c.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lines...)
	}
	slices.Sort(out)
	return out
}

// TestMigrateConcurrently starts several instances at once on an empty
// database, as a first deployment or a scale-up does: every instance must
// start, and the schema must be exactly the one a single instance leaves,
// each migration applied once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	const instances = 8
	url := pgtest.URL(t)
	stores := make([]*postgres.Store, instances)
	for i := range stores {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		stores[i] = s
	}
	start := make(chan struct{})
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = s.Migrate(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}

	_, single := openURL(t)
	got, want := schemaOf(t, url), schemaOf(t, single)
	if !slices.Equal(got, want) {
		t.Errorf("schema after %d concurrent runs differs from one run's:\n got %d lines, only in it: %q\nwant %d lines, only in it: %q",
			instances, len(got), minus(got, want), len(want), minus(want, got))
	}
	versions := 0
	for _, line := range got {
		if strings.HasPrefix(line, "version ") {
			versions++
			if !strings.HasSuffix(line, " x1") {
				t.Errorf("migration recorded more than once: %s", line)
			}
		}
	}
	// goose records version 0 besides one row per migration.
	if n := len(migrationFiles(t)); versions != n+1 {
		t.Errorf("%d versions applied, want %d migrations and version 0", versions, n)
	}
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestMigrateOlderBuildAfterNewer is the rolling upgrade's other half: an
// instance of the previous release (re)starts after a new one has applied
// migrations it does not know. It must start and change nothing.
func TestMigrateOlderBuildAfterNewer(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	before := schemaOf(t, url)

	files := migrationFiles(t)
	older := fstest.MapFS{}
	for _, f := range files[:len(files)-2] {
		b, err := fs.ReadFile(schema.Migrations, f)
		if err != nil {
			t.Fatal(err)
		}
		older[strings.TrimPrefix(f, "migrations/")] = &fstest.MapFile{Data: b}
	}
	if err := s.MigrateFrom(ctx, older); err != nil {
		t.Fatalf("an older build's migrations on a newer schema: %v", err)
	}
	if after := schemaOf(t, url); !slices.Equal(after, before) {
		t.Errorf("an older build changed the schema: gone %q, new %q", minus(before, after), minus(after, before))
	}
}

// TestMigrateWaitsForTheLock holds the migration lock from another session,
// as an instance in the middle of a migration does: Migrate must wait
// rather than fail or run beside it, and give up when its context ends.
func TestMigrateWaitsForTheLock(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	holder, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_lock($1)", postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// A waiter whose context ends gives up with an error that says why.
	cctx, cancel := context.WithCancel(ctx)
	waiting := make(chan error, 1)
	go func() { waiting <- s.Migrate(cctx) }()
	awaitLockWaiter(t, holder)
	cancel()
	if err := <-waiting; err == nil || !strings.Contains(err.Error(), "migration lock") {
		t.Errorf("Migrate with its context cancelled while waiting = %v, want an error about the migration lock", err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Migrate(ctx) }()
	awaitLockWaiter(t, holder)
	rows, err := holder.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 0 {
		t.Errorf("tables %q created while another session held the migration lock", tables)
	}
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Migrate after the lock was released: %v", err)
	}
}

// awaitLockWaiter returns once another session waits for an advisory lock
// on the database, as seen from c.
func awaitLockWaiter(t *testing.T, c *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no session waits for the migration lock after a minute")
		}
		var n int
		err := c.QueryRow(ctx, `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		// Polling pg_locks is the only way to see another session wait.
		if _, err := c.Exec(ctx, "SELECT pg_sleep(0.01)"); err != nil {
			t.Fatal(err)
		}
	}
}
