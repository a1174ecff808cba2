package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// openURL opens a migrated store on a scratch database, and returns its
// URL.
func openURL(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, url
}

func open(t *testing.T) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	s, _ := openURL(t)
	// A second run must be a no-op, as at every restart.
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating twice: %v", err)
	}
	return s
}

func alert(id string) *schema.Alert {
	return &schema.Alert{
		ID: id, SignalID: "s", SignalVersion: 1, Subject: "account:acme", CustomerID: "c-1", AccountID: "acme",
		Priority: "high", EventID: "evt-" + id, Time: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC),
		Evidence: []schema.Evidence{{EventID: "e1", Type: "page_view", URL: "https://x/pricing"}, {EventID: "e2", Type: "page_view"}},
	}
}

func TestSaveAlertIsIdempotentAndNumbersPerRecipient(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, u := range []string{"ana", "jane"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: u, Name: u, Role: dowser.RoleRep}, "token-"+u+"-0123456789"); err != nil {
			t.Fatal(err)
		}
	}
	saved, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"jane", "ana", "nobody"})
	d1 := saved.Deliveries
	if err != nil {
		t.Fatal(err)
	}
	if len(d1) != 2 || d1[0].UserID != "ana" || d1[0].Seq != 1 || d1[1].UserID != "jane" || d1[1].Seq != 1 {
		t.Fatalf("deliveries = %+v, want ana#1 and jane#1 (unknown users skipped)", d1)
	}
	if saved.OutboxID == 0 || saved.AlertID != "al-1" || !saved.EventTime.Equal(alert("al-1").Time) || !strings.Contains(string(saved.Alert), `"id":"al-1"`) {
		t.Errorf("saved %+v: want its outbox row, time and document", saved)
	}
	again, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana", "jane"})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Deliveries) != 0 || again.OutboxID != 0 {
		t.Fatalf("saving the same alert again stored %+v, want nothing", again)
	}
	saved2, err := s.Alerts.SaveAlert(ctx, alert("al-2"), []string{"ana"})
	d2 := saved2.Deliveries
	if err != nil {
		t.Fatal(err)
	}
	if len(d2) != 1 || d2[0].Seq != 2 {
		t.Fatalf("second alert to ana = %+v, want seq 2", d2)
	}
	got, err := s.Alerts.DeliveriesAfter(ctx, "ana", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].AlertID != "al-1" || got[1].AlertID != "al-2" {
		t.Fatalf("ana's deliveries = %+v", got)
	}
	if last, _ := s.Alerts.LastSeq(ctx, "ana"); last != 2 {
		t.Errorf("LastSeq = %d, want 2", last)
	}
	if err := s.Alerts.Ack(ctx, "jane", "al-2", ""); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("jane acking ana's alert: %v, want ErrNotFound", err)
	}
	if err := s.Alerts.Feedback(ctx, "ana", "al-2", "useful", "called them", ""); err != nil {
		t.Fatal(err)
	}
	listed, err := s.Alerts.ListAlerts(ctx, "ana", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 || listed[0].Seq != 2 || !listed[0].Acked || listed[0].Verdict != "useful" {
		t.Errorf("listed = %+v", listed)
	}
}

func TestConcurrentAlertsKeepSequencesGapFree(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.Alerts.SaveAlert(ctx, alert("al-c"+string(rune('A'+i))), []string{"ana"})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ds, err := s.Alerts.DeliveriesAfter(ctx, "ana", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if d.Seq != int64(i+1) {
			t.Fatalf("delivery %d has seq %d: sequences must be 1..%d without gaps", i, d.Seq, n)
		}
	}
	if len(ds) != n {
		t.Fatalf("%d deliveries, want %d", len(ds), n)
	}
}

// TestConcurrentAlertsToSeveralUsersNeitherDeadlockNorSkip stores alerts
// for the same two users, named in either order, from many goroutines at
// once: every user's sequences stay gap-free, each alert is stored once.
func TestConcurrentAlertsToSeveralUsersNeitherDeadlockNorSkip(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, u := range []string{"ana", "jane"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: u, Name: u, Role: dowser.RoleRep}, ""); err != nil {
			t.Fatal(err)
		}
	}
	const n = 30
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		users := []string{"ana", "jane"}
		if i%2 == 1 {
			users = []string{"jane", "ana"}
		}
		id := fmt.Sprintf("al-m%d", i)
		for range 2 { // the second is a replay racing the first
			wg.Go(func() {
				_, err := s.Alerts.SaveAlert(ctx, alert(id), users)
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"ana", "jane"} {
		ds, err := s.Alerts.DeliveriesAfter(ctx, u, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != n {
			t.Fatalf("%s has %d deliveries, want %d", u, len(ds), n)
		}
		for i, d := range ds {
			if d.Seq != int64(i+1) {
				t.Fatalf("%s's delivery %d has seq %d: want 1..%d without gaps", u, i, d.Seq, n)
			}
		}
	}
}

func TestSignalsAreVersioned(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	rev0, _ := s.Signals.SignalsRevision(ctx)
	v1, err := s.Signals.SaveSignal(ctx, "pricing", []byte(`{"id":"pricing"}`), "id: pricing", "jane", true)
	if err != nil || v1 != 1 {
		t.Fatalf("first save = %d, %v", v1, err)
	}
	rev1, _ := s.Signals.SignalsRevision(ctx)
	v2, err := s.Signals.SaveSignal(ctx, "pricing", []byte(`{"id":"pricing","name":"P"}`), "id: pricing\nname: P", "omar", false)
	if err != nil || v2 != 2 {
		t.Fatalf("second save = %d, %v", v2, err)
	}
	rev2, _ := s.Signals.SignalsRevision(ctx)
	if rev0 == rev1 || rev1 == rev2 {
		t.Errorf("revisions %q %q %q must all differ", rev0, rev1, rev2)
	}
	got, err := s.Signals.GetSignal(ctx, "pricing")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Enabled || got.UpdatedBy != "omar" || got.Source != "id: pricing\nname: P" {
		t.Errorf("current = %+v", got)
	}
	if err := s.Signals.SetSignalEnabled(ctx, "pricing", true, "jane"); err != nil {
		t.Fatal(err)
	}
	if err := s.Signals.SetSignalEnabled(ctx, "pricing", true, "jane"); err != nil {
		t.Fatalf("enabling twice: %v", err)
	}
	if got, _ := s.Signals.GetSignal(ctx, "pricing"); !got.Enabled || got.Version != 2 {
		t.Errorf("after enable: %+v, want version 2 enabled", got)
	}
	if err := s.Signals.SetSignalEnabled(ctx, "nope", true, "jane"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("enabling an unknown signal: %v, want ErrNotFound", err)
	}
	if err := s.Signals.DeleteSignal(ctx, "pricing", "jane"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signals.GetSignal(ctx, "pricing"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("deleted signal: %v, want ErrNotFound", err)
	}
	if err := s.Signals.DeleteSignal(ctx, "pricing", "jane"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if v3, err := s.Signals.SaveSignal(ctx, "pricing", []byte(`{"id":"pricing"}`), "id: pricing", "jane", true); err != nil || v3 != 3 {
		t.Errorf("re-creating a deleted signal = %d, %v; want version 3", v3, err)
	}
	hist, err := s.Signals.SignalHistory(ctx, "pricing")
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, c := range hist {
		changes = append(changes, fmt.Sprintf("v%d %s by %s", c.Version, c.Action, c.ChangedBy))
	}
	want := []string{"v1 saved by jane", "v2 saved by omar", "v2 enabled by jane", "v2 deleted by jane", "v3 saved by jane"}
	if !slices.Equal(changes, want) {
		t.Errorf("history = %q, want %q", changes, want)
	}
	first, err := s.Signals.GetSignalVersion(ctx, "pricing", 1)
	if err != nil || first.Source != "id: pricing" || first.CreatedBy != "jane" {
		t.Errorf("version 1 = %+v, %v", first, err)
	}
	if _, err := s.Signals.SignalHistory(ctx, "never"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("history of an unknown signal: %v, want ErrNotFound", err)
	}
}

func TestRouting(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.Directory.PutAccount(ctx, dowser.Account{ID: "acme", OwnerID: "ana", Lifecycle: "prospect"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []dowser.Content{
		{ID: "pricing-page", URLPrefix: "https://x/pricing", OwnerID: "jane"},
		{ID: "docs", URLPrefix: "https://x/docs/", OwnerID: "omar"},
		{ID: "orphan", URLPrefix: "https://x/orphan"},
	} {
		if err := s.Directory.PutContent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if o, _ := s.Directory.AccountOwner(ctx, "acme"); o != "ana" {
		t.Errorf("owner of acme = %q", o)
	}
	if o, err := s.Directory.AccountOwner(ctx, "unknown"); o != "" || err != nil {
		t.Errorf("owner of unknown = %q, %v; want none", o, err)
	}
	owners, err := s.Directory.ContentOwners(ctx, []string{"pricing-page"}, []string{"https://x/docs/kafka", "https://x/orphan/1", "https://y/docs/"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(owners) != "[{jane } {omar }]" {
		t.Errorf("content owners = %v, want jane and omar, who are no users", owners)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, "token-ana-0123456789"); err != nil {
		t.Fatal(err)
	}
	// Updating without a token keeps the old one.
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana R.", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	u, err := s.People.UserByToken(ctx, "token-ana-0123456789")
	if err != nil || u.Name != "Ana R." {
		t.Fatalf("UserByToken = %+v, %v", u, err)
	}
	if _, err := s.People.UserByToken(ctx, "wrong"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("wrong token: %v", err)
	}
	secret, err := s.People.CreateSession(ctx, "ana", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.People.UserBySession(ctx, secret); err != nil || u.ID != "ana" {
		t.Errorf("UserBySession = %+v, %v", u, err)
	}
	expired, _ := s.People.CreateSession(ctx, "ana", -time.Second)
	if _, err := s.People.UserBySession(ctx, expired); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	if err := s.People.DeleteSession(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.People.UserBySession(ctx, secret); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
}

func TestOutboxRelayPublishesWhatWasLeft(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Alerts.SaveAlert(ctx, alert("al-a"), []string{"ana"})
	b, _ := s.Alerts.SaveAlert(ctx, alert("al-b"), []string{"ana"})
	if err := s.Alerts.MarkPublished(ctx, a.OutboxID); err != nil {
		t.Fatal(err)
	}
	var got []string
	var last dowser.OutboxMessage
	publish := func(_ context.Context, msgs []dowser.OutboxMessage) error {
		for _, m := range msgs {
			got = append(got, m.AlertID)
			last = m
		}
		return nil
	}
	// Too young: the detecting instance may still be publishing it.
	if n, err := s.Alerts.PublishPending(ctx, time.Hour, 10, publish); err != nil || n != 0 {
		t.Fatalf("young rows: published %d, %v", n, err)
	}
	if n, err := s.Alerts.PublishPending(ctx, 0, 10, publish); err != nil || n != 1 || got[0] != "al-b" {
		t.Fatalf("published %d %v, %v; want only al-b (al-a was marked)", n, got, err)
	}
	// What the message is encoded from: the stored document and the
	// deliveries the alert's transaction numbered.
	if len(last.Deliveries) != 1 || last.Deliveries[0].UserID != "ana" || last.Deliveries[0].Seq != 2 ||
		!sameJSON(t, last.Alert, b.Alert) || last.Payload != nil {
		t.Errorf("relay read %+v, want al-b's document and ana#2, no payload", last)
	}
	failing := func(context.Context, []dowser.OutboxMessage) error { return errors.New("broker down") }
	if err := s.Alerts.MarkPublished(ctx, b.OutboxID); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Alerts.SaveAlert(ctx, alert("al-c"), []string{"ana"})
	if _, err := s.Alerts.PublishPending(ctx, 0, 10, failing); err == nil {
		t.Fatal("a failing publish must be reported")
	}
	got = nil
	if n, err := s.Alerts.PublishPending(ctx, 0, 10, publish); err != nil || n != 1 || got[0] != "al-c" {
		t.Fatalf("after a failed publish: %d %v, %v; want al-c again (row %d)", n, got, err, c.OutboxID)
	}
	// A row an older version wrote, its message encoded then, is handed
	// on as it is.
	legacy := []byte(`{"alert_id":"al-c","deliveries":null}`)
	pgtest.Exec(t, url, `INSERT INTO outbox (alert_id, payload) VALUES ('al-c', convert_to('`+string(legacy)+`', 'UTF8'))`)
	if n, err := s.Alerts.PublishPending(ctx, 0, 10, publish); err != nil || n != 1 || string(last.Payload) != string(legacy) {
		t.Fatalf("legacy row: %d, %v, payload %q; want it as written", n, err, last.Payload)
	}
}

func TestPurgeDeletesOnlyOldAlertsWithTheirEvidence(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"al-old", "al-new"} {
		if _, err := s.Alerts.SaveAlert(ctx, alert(id), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Privacy.PurgeAlertsBefore(ctx, time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("nothing is an hour old yet: purged %d, %v", n, err)
	}
	if n, err := s.Privacy.PurgeAlertsBefore(ctx, time.Now().Add(time.Hour), 1); err != nil || n != 1 {
		t.Fatalf("limit 1: purged %d, %v", n, err)
	}
	if n, err := s.Privacy.PurgeAlertsBefore(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("the rest: purged %d, %v", n, err)
	}
	if ds, _ := s.Alerts.DeliveriesAfter(ctx, "ana", 0, 10); len(ds) != 0 {
		t.Errorf("deliveries of purged alerts remain: %v", ds)
	}
	dnt, err := s.Privacy.DoNotTrack(ctx)
	if err != nil || len(dnt["customer"]) != 0 {
		t.Fatalf("empty do-not-track = %v, %v", dnt, err)
	}
	if err := s.Privacy.SetDoNotTrack(ctx, dowser.DNTCustomer, "c-1", true, "admin"); err != nil {
		t.Fatal(err)
	}
	if dnt, _ := s.Privacy.DoNotTrack(ctx); !dnt["customer"]["c-1"] {
		t.Errorf("do-not-track = %v, want c-1", dnt)
	}
}

func TestImportDoNotTrack(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	n, err := s.Directory.Import(ctx, "do-not-track", []string{"id", "kind"}, [][]string{{"c-1", "customer"}, {"acme", "account"}, {"c-1", "customer"}})
	if err != nil || n != 3 {
		t.Fatalf("import = %d, %v", n, err)
	}
	dnt, err := s.Privacy.DoNotTrack(ctx)
	if err != nil || !dnt["customer"]["c-1"] || !dnt["account"]["acme"] || len(dnt["customer"]) != 1 {
		t.Fatalf("do-not-track after import = %v, %v", dnt, err)
	}
	if _, err := s.Directory.Import(ctx, "do-not-track", []string{"kind", "id"}, [][]string{{"planet", "x"}}); err == nil {
		t.Error("an unknown kind must fail the import")
	}
}

// TestFailedSaveAlertLeavesNothing: an alert PostgreSQL refuses numbers
// nobody and leaves no transaction open; the next alert is stored as if
// the first had never been tried.
func TestFailedSaveAlertLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "ana", Role: dowser.RoleRep}, "token-ana-0123456789"); err != nil {
		t.Fatal(err)
	}
	bad := alert("al-bad")
	bad.Evidence[0].Title = "Pri\x00cing"
	for range 20 { // more than the pool's connections
		if _, err := s.Alerts.SaveAlert(ctx, bad, []string{"ana"}); err == nil {
			t.Fatal("an alert with a NUL in its evidence was stored")
		}
	}
	saved, err := s.Alerts.SaveAlert(ctx, alert("al-good"), []string{"ana"})
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Deliveries) != 1 || saved.Deliveries[0].Seq != 1 || saved.OutboxID == 0 || saved.AlertID != "al-good" {
		t.Errorf("after failed saves, stored %+v; want ana#1 with an outbox row", saved)
	}
	if acquired, _, _ := s.PoolStats(); acquired != 0 {
		t.Errorf("%d connections still acquired", acquired)
	}
}

// sameJSON reports whether two JSON documents hold the same values: a
// document read back from a jsonb column has its own spacing and order.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
