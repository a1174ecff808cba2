package postgres_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dowserhq/dowser/postgres"
)

// remember resolves one anonymous event.
func remember(ctx context.Context, ids *postgres.Identities, anon, eventID string, at time.Time, event []byte) (customer, account, lifecycle string, err error) {
	c, a, l, err := ids.RememberAnonymous(ctx, []string{anon}, []string{eventID}, []time.Time{at}, [][]byte{event})
	if err != nil {
		return "", "", "", err
	}
	return c[0], a[0], l[0], nil
}

func TestIdentitiesRememberBatch(t *testing.T) {
	ctx := context.Background()
	ids := open(t).Identities
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	if _, err := ids.LinkAnonymous(ctx, "anon-2", "c-2", "acme", "prospect", t0, func([][]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// A batch with a repeated event and a linked visitor.
	c, a, l, err := ids.RememberAnonymous(ctx, []string{"anon-1", "anon-2", "anon-1", "anon-1"}, []string{"e1", "e2", "e3", "e1"},
		[]time.Time{t0, t0, t0.Add(time.Minute), t0}, [][]byte{[]byte("e1"), []byte("e2"), []byte("e3"), []byte("e1")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c, []string{"", "c-2", "", ""}) || a[1] != "acme" || l[1] != "prospect" {
		t.Errorf("resolved customers %q accounts %q lifecycles %q; want only anon-2's, as c-2 of acme", c, a, l)
	}
	var got []string
	if _, err := ids.LinkAnonymous(ctx, "anon-1", "c-1", "", "", t0, func(evs [][]byte) error {
		for _, e := range evs {
			got = append(got, string(e))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"e1", "e3"}) {
		t.Errorf("anon-1 remembered %q, want e1 then e3, once each", got)
	}
}

func TestIdentitiesRememberLinkAndReLink(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	ids := s.Identities
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"e1", "e2", "e1", "e0"} { // e1 replayed; e0 too old
		at := t0.Add(time.Duration(i) * time.Minute)
		if id == "e0" {
			at = t0.Add(-48 * time.Hour)
		}
		c, _, _, err := remember(ctx, ids, "anon-1", id, at, []byte(id))
		if err != nil || c != "" {
			t.Fatalf("RememberAnonymous(%s) = %q, %v; want unlinked", id, c, err)
		}
	}

	// A failing emit leaves everything as it was.
	boom := errors.New("broker down")
	if _, err := ids.LinkAnonymous(ctx, "anon-1", "c-1", "acme", "", t0.Add(-time.Hour), func([][]byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("LinkAnonymous with a failing emit = %v, want %v", err, boom)
	}
	var got []string
	emit := func(evs [][]byte) error {
		got = got[:0]
		for _, e := range evs {
			got = append(got, string(e))
		}
		return nil
	}
	changed, err := ids.LinkAnonymous(ctx, "anon-1", "c-1", "acme", "", t0.Add(-time.Hour), emit)
	if err != nil || !changed {
		t.Fatalf("LinkAnonymous = %v, %v; want changed", changed, err)
	}
	if want := []string{"e1", "e2"}; !slices.Equal(got, want) {
		t.Errorf("emitted %q, want %q (in order, once each, within the horizon)", got, want)
	}

	// Linked now: later anonymous events resolve, and are not remembered.
	c, a, _, err := remember(ctx, ids, "anon-1", "e3", t0.Add(time.Hour), []byte("e3"))
	if err != nil || c != "c-1" || a != "acme" {
		t.Fatalf("RememberAnonymous after the link = %q, %q, %v; want c-1, acme", c, a, err)
	}
	// The same link again emits nothing; a lifecycle updates it.
	got = nil
	if changed, err := ids.LinkAnonymous(ctx, "anon-1", "c-1", "", "customer", t0, emit); err != nil || changed || got != nil {
		t.Fatalf("LinkAnonymous again = %v, %v, emitted %q; want unchanged and nothing", changed, err, got)
	}
	if _, _, l, _ := remember(ctx, ids, "anon-1", "e4", t0, nil); l != "customer" {
		t.Errorf("lifecycle after update = %q, want customer", l)
	}
	// Linked to another customer: later events follow it; nothing is
	// emitted again (the history went to the first).
	if changed, err := ids.LinkAnonymous(ctx, "anon-1", "c-2", "globex", "", t0, emit); err != nil || !changed || len(got) != 0 {
		t.Fatalf("re-link = %v, %v, emitted %q; want changed and nothing", changed, err, got)
	}
	if c, a, _, _ := remember(ctx, ids, "anon-1", "e5", t0, nil); c != "c-2" || a != "globex" {
		t.Errorf("after re-link resolves to %q, %q; want c-2, globex", c, a)
	}
}

func TestIdentitiesErasureAndPurge(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	ids := s.Identities
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for _, r := range []struct{ anon, ev string }{{"anon-1", "e1"}, {"anon-2", "e2"}, {"anon-3", "e3"}, {"c-1", "e4"}} {
		if _, _, _, err := remember(ctx, ids, r.anon, r.ev, t0, []byte(r.ev)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ids.LinkAnonymous(ctx, "anon-1", "c-1", "", "", t0, func([][]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Privacy.EraseCustomer(ctx, "c-1", "admin"); err != nil {
		t.Fatal(err)
	}
	if c, _, _, _ := remember(ctx, ids, "anon-1", "e5", t0, []byte("e5")); c != "" {
		t.Errorf("anon-1 still linked to %q after erasure", c)
	}
	var emitted []string
	if _, err := ids.LinkAnonymous(ctx, "anon-1", "c-9", "", "", t0, func(evs [][]byte) error {
		for _, e := range evs {
			emitted = append(emitted, string(e))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(emitted, []string{"e5"}) {
		t.Errorf("after erasure anon-1 re-emits %q, want only e5 (remembered after it)", emitted)
	}
	emitted = nil
	if _, err := ids.LinkAnonymous(ctx, "c-1", "c-8", "", "", t0, func(evs [][]byte) error {
		for _, e := range evs {
			emitted = append(emitted, string(e))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 0 {
		t.Errorf("events remembered under the erased id itself survived: %q", emitted)
	}
	n, err := ids.PurgeRememberedBefore(ctx, t0.Add(time.Second), 10)
	if err != nil || n != 2 {
		t.Errorf("purge = %d, %v; want anon-2's and anon-3's 2", n, err)
	}
}

func TestIdentitiesRetentionPurgesTheGraphsOldLinks(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, anon := range []string{"anon-old", "anon-seen"} {
		if _, err := s.Identities.LinkAnonymous(ctx, anon, "c-1", "", "", time.Time{}, func([][]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now().Add(time.Second)
	// The detector saw anon-seen's link again after the cutoff.
	if err := s.Privacy.RecordIdentityLink(ctx, "c-1", "anon-seen"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoints.Pool().Exec(ctx, `UPDATE identity_links SET last_seen_at = now() + interval '1 minute' WHERE anonymous_id = 'anon-seen'`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Privacy.PurgeIdentityLinksBefore(ctx, cutoff, 10); err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want anon-old's link", n, err)
	}
	for anon, want := range map[string]string{"anon-old": "", "anon-seen": "c-1"} {
		if c, _, _, err := remember(ctx, s.Identities, anon, "e", time.Now(), []byte("e")); err != nil || c != want {
			t.Errorf("%s resolves to %q, %v after the purge; want %q", anon, c, err, want)
		}
	}
}
