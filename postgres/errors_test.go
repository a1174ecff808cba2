package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// The classifier is checked against errors a real PostgreSQL returns, on
// both sides of the line.
func TestPermanentClassifiesRealErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(sql string) error {
		_, err := conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE t (id int PRIMARY KEY, n int CHECK (n > 0)); INSERT INTO t VALUES (1, 1)`); err != nil {
		t.Fatal(err)
	}
	nulAlert := alert("al-nul")
	nulAlert.Evidence[0].Title = "Pri\x00cing"

	_, _, accountErr := s.Directory.AccountProfile(ctx, "ac\x00me")
	_, alertErr := s.Alerts.SaveAlert(ctx, nulAlert, nil)
	_, dbErr := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
	deadCtx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-deadCtx.Done()
	_, _, ctxErr := s.Directory.AccountProfile(deadCtx, "acme")

	tests := []struct {
		name      string
		err       error
		code      string // the SQLSTATE expected, "" for none
		permanent bool
	}{
		{"NUL in a text parameter (account lookup)", accountErr, "22021", true},
		{"NUL in jsonb (alert evidence)", alertErr, "22P05", true},
		{"unique violation", exec(`INSERT INTO t VALUES (1, 1)`), "23505", true},
		{"check violation", exec(`INSERT INTO t VALUES (2, -1)`), "23514", true},
		{"division by zero", exec(`SELECT 1/0`), "22012", true},
		{"serialization failure", exec(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`), "40001", false},
		{"deadlock", exec(`DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$`), "40P01", false},
		{"too many connections", exec(`DO $$ BEGIN RAISE EXCEPTION 'full' USING ERRCODE = '53300'; END $$`), "53300", false},
		{"undefined table (not the event's fault)", exec(`SELECT * FROM missing`), "42P01", false},
		{"connection refused", dbErr, "", false},
		{"deadline exceeded", ctxErr, "", false},
		{"no error", nil, "", false},
		// Last: it ends the connection.
		{"server terminating the session", exec(`SELECT pg_terminate_backend(pg_backend_pid())`), "57P01", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no error" && tt.err == nil {
				t.Fatal("no error, want one")
			}
			if code := postgres.SQLState(tt.err); code != tt.code {
				t.Errorf("SQLSTATE of %v = %q, want %q", tt.err, code, tt.code)
			}
			if got := errors.Is(postgres.MarkPermanent(tt.err), dowser.ErrPermanent); got != tt.permanent {
				t.Errorf("MarkPermanent(%v) is dowser.ErrPermanent: %v, want %v", tt.err, got, tt.permanent)
			}
			if tt.err != nil && postgres.MarkPermanent(tt.err).Error() != tt.err.Error() {
				t.Errorf("marking changed the message: %q, want %q", postgres.MarkPermanent(tt.err), tt.err)
			}
		})
	}
	// The event path's store methods mark what they return themselves.
	for name, err := range map[string]error{"account lookup": accountErr, "alert save": alertErr} {
		if !errors.Is(err, dowser.ErrPermanent) {
			t.Errorf("%s: %v is not dowser.ErrPermanent", name, err)
		}
		if postgres.SQLState(err) == "" {
			t.Errorf("%s: %v lost its SQLSTATE", name, err)
		}
	}
}
