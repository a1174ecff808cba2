// Package pgtest gives integration tests a fresh, migrated PostgreSQL
// database of their own on the server named by DATABASE_URL.
//
// It also imports github.com/jackc/pgx, to create and drop those databases
// on a server the store is not yet connected to.
// It imports no other Dowser package.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// URL creates an empty database for the test on the server of DATABASE_URL,
// drops it when the test ends, and returns its URL. Without DATABASE_URL the
// test is skipped, unless DOWSER_REQUIRE_DB is set (as `make test` does), in
// which case it fails: CI must never pass by skipping.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		if os.Getenv("DOWSER_REQUIRE_DB") != "" {
			t.Fatal("DATABASE_URL is not set; run the tests with `make test`")
		}
		t.Skip("DATABASE_URL is not set; `make test` starts a private PostgreSQL")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parsing DATABASE_URL: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dowser_test_" + hex.EncodeToString(b[:])

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Logf("dropping %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Exec runs sql on the database at url, failing t on error: for tests that
// arrange the database behind the service's back (a trigger injecting a
// fault, say).
func Exec(t testing.TB, url, sql string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Terminate kills the connections to the database at url whose
// application_name is app, as a failover or an administrator would, and
// returns how many it killed.
func Terminate(t testing.TB, url, app string) int {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	defer c.Close(ctx)
	var n int
	err = c.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
	if err != nil {
		t.Fatalf("terminating the connections of %q: %v", app, err)
	}
	return n
}
