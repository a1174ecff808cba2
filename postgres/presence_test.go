package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPresenceBeatsRenewReplaceAndExpire checks that each instance sees the
// others' users, not its own; that a beat replaces its instance's set; that
// a record no one renews stops counting after its lease; and that leaving
// removes an instance's records at once.
func TestPresenceBeatsRenewReplaceAndExpire(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	beat := func(instance string, lease time.Duration, users ...string) []string {
		t.Helper()
		got, err := s.Presence.BeatPresence(ctx, instance, users, lease)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	beat("a", time.Minute, "ana", "ben")
	if got := beat("b", time.Minute, "cy", "ana"); !slices.Equal(got, []string{"ana", "ben"}) {
		t.Errorf("b sees %v, want a's ana and ben", got)
	}
	// a's set now lacks ben: ben is connected nowhere.
	beat("a", time.Minute, "ana")
	if got := beat("b", time.Minute, "cy"); !slices.Equal(got, []string{"ana"}) {
		t.Errorf("after a dropped ben, b sees %v, want [ana]", got)
	}
	if got := beat("a", time.Minute, "ana"); !slices.Equal(got, []string{"cy"}) {
		t.Errorf("a sees %v, want b's cy", got)
	}

	// c dies after one beat with a short lease: its user counts until the
	// lease runs out, then not.
	beat("c", 2*time.Second, "dee")
	if got := beat("a", time.Minute, "ana"); !slices.Contains(got, "dee") {
		t.Errorf("a sees %v, want dee of c while c's lease holds", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := beat("a", time.Minute, "ana")
		if !slices.Contains(got, "dee") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a still sees %v 30 s after c's 2 s lease", got)
		}
		time.Sleep(200 * time.Millisecond) // waiting out the lease is the point
	}
	var rows int
	if err := s.Checkpoints.Pool().QueryRow(ctx, `SELECT count(*) FROM presence WHERE instance = 'c'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("%d expired rows of c remain; a beat deletes them", rows)
	}

	if err := s.Presence.LeavePresence(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := beat("a", time.Minute, "ana"); len(got) != 0 {
		t.Errorf("after b left, a sees %v, want nobody", got)
	}
}
