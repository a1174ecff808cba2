package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// TestOpenHonoursTLSParameters checks that the TLS settings of
// DATABASE_URL (docs/operations.md) reach the connection: the test server
// speaks no TLS, so a URL that demands it must fail, saying why, and a
// certificate file that is not there must be named.
func TestOpenHonoursTLSParameters(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	with := func(params map[string]string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	missing := filepath.Join(t.TempDir(), "root.crt")
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string // in the error
		perm   bool   // the error is dowser.ErrPermanent
	}{
		{"require", map[string]string{"sslmode": "require"}, "server refused TLS connection", false},
		{"verify-full", map[string]string{"sslmode": "verify-full"}, "server refused TLS connection", false},
		{"missing root certificate", map[string]string{"sslmode": "verify-full", "sslrootcert": missing}, missing, true},
		{"missing client certificate", map[string]string{"sslmode": "require", "sslcert": missing, "sslkey": missing}, missing, true},
		{"unknown sslmode", map[string]string{"sslmode": "always"}, "sslmode", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(ctx, with(tc.params))
			if err == nil {
				s.Close()
				t.Fatalf("Open with %v succeeded on a server without TLS", tc.params)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open with %v: %v, want an error naming %q", tc.params, err, tc.want)
			}
			if got := errors.Is(err, dowser.ErrPermanent); got != tc.perm {
				t.Errorf("Open with %v: permanent = %v, want %v (%v)", tc.params, got, tc.perm, err)
			}
		})
	}

	// sslmode=prefer (libpq's default) falls back to plain text.
	s, err := postgres.Open(ctx, with(map[string]string{"sslmode": "prefer"}))
	if err != nil {
		t.Fatalf("Open with sslmode=prefer on a server without TLS: %v", err)
	}
	s.Close()
}
