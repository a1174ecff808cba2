package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// DB is a handle on Dowser's database: the connection pool that every
// aggregate's store shares. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
}

// Store holds every aggregate's store over one DB: callers take the one
// they need (store.Alerts, store.Directory, ...) and declare the small
// interface they use of it.
type Store struct {
	*DB
	People      *People
	Directory   *Directory
	Signals     *Signals
	Alerts      *Alerts
	Checkpoints *Checkpoints
	Privacy     *Privacy
	Identities  *Identities
	Channels    *Channels
	Escalations *Escalations
	Presence    *Presence
	Journey     *Journey
}

// New returns the store of each aggregate over db.
func New(db *DB) *Store {
	return &Store{
		DB:          db,
		People:      &People{pool: db.pool},
		Directory:   &Directory{pool: db.pool},
		Signals:     &Signals{pool: db.pool},
		Alerts:      &Alerts{pool: db.pool},
		Checkpoints: &Checkpoints{pool: db.pool},
		Privacy:     &Privacy{pool: db.pool},
		Identities:  &Identities{pool: db.pool},
		Channels:    &Channels{pool: db.pool},
		Escalations: &Escalations{pool: db.pool},
		Presence:    &Presence{pool: db.pool},
		Journey:     &Journey{pool: db.pool},
	}
}

// WithPrivacyKey returns a Store on the same pool whose Privacy keys
// erasure audit hashes with key instead of the key kept in the database.
func (s *Store) WithPrivacyKey(key []byte) *Store {
	c := *s
	c.Privacy = s.Privacy.WithKey(key)
	return &c
}

// defaultMaxConns is the pool size when the URL sets no pool_max_conns.
const defaultMaxConns = 16

// Open connects to the database at url, checks that it answers, and
// returns the store of each aggregate over it. An unreadable url, refused
// credentials or a missing database fail with dowser.ErrPermanent: no
// retry will help. The pool holds up to
// defaultMaxConns connections unless the URL's pool_max_conns says
// otherwise.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &permanentError{fmt.Errorf("parsing database url: %w", err)}
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default, the larger of 4 and the CPUs, makes the partitions
		// (6 by default, each holding a connection while it stores an
		// alert), the alert publisher and the websockets' history reads
		// queue for connections at a few thousand events a second.
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		err = fmt.Errorf("connecting to postgres at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
		if refusedForGood(err) {
			err = &permanentError{err}
		}
		return nil, err
	}
	return New(&DB{pool: pool}), nil
}

// Close releases every connection.
func (s *DB) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// PoolStats are the connection pool's gauges: connections in use, idle,
// and in all.
func (s *DB) PoolStats() (acquired, idle, total int32) {
	st := s.pool.Stat()
	return st.AcquiredConns(), st.IdleConns(), st.TotalConns()
}

// Migrate applies every embedded migration not yet applied. Instances
// that start together may all call it: a PostgreSQL advisory lock lets one
// run at a time, and each of the others then finds nothing left to apply.
// The wait for the lock lasts as long as ctx allows. Versions in the
// database that this build does not know (a newer build migrated it) are
// left alone, so an older instance still starts during a rolling upgrade.
func (s *DB) Migrate(ctx context.Context) error {
	migrations, err := fs.Sub(schema.Migrations, "migrations")
	if err != nil {
		return fmt.Errorf("opening embedded migrations: %w", err)
	}
	return s.migrate(ctx, migrations, math.MaxInt64)
}

// migrationLockKey names Dowser's session-level advisory lock on schema
// migrations ("dowser" in ASCII): a key of its own, so that another
// program migrating the same database neither waits for it nor holds it.
const migrationLockKey int64 = 0x646f77736572

// migrate applies the migrations in fsys up to version while holding the
// migration lock.
//
// The lock is a blocking pg_advisory_lock on a connection of its own,
// outside the pool, held around everything goose does. goose's own
// session locker is not enough: it polls every 5 seconds, gives up after 5
// minutes (failing every instance that waits out a long migration), and
// goose creates its version table and reads the pending migrations before
// taking it. Outside the pool, so that a pool of one connection
// (pool_max_conns=1) still has one for the migrations.
func (s *DB) migrate(ctx context.Context, migrations fs.FS, version int64) (err error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	lockConn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting for the migration lock: %w", err)
	}
	// Closing the session releases its lock too, also when ctx has ended.
	defer lockConn.Close(context.WithoutCancel(ctx))
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("waiting for the migration lock (advisory lock %d): %w", migrationLockKey, err)
	}
	defer func() {
		if _, uerr := lockConn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey); uerr != nil && err == nil {
			err = fmt.Errorf("releasing the migration lock (advisory lock %d): %w", migrationLockKey, uerr)
		}
	}()

	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// querier is what both a pool and a transaction offer, so helpers can run
// inside or outside one.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ querier = (*pgxpool.Pool)(nil)
	_ querier = (pgx.Tx)(nil)
)

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewToken returns a fresh random token, 32 bytes of entropy, URL-safe.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) || errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, dowser.ErrNotFound)
	}
	return err
}
