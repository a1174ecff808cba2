package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

// journeyStore opens a store whose journey has partitions around now.
func journeyStore(t *testing.T, now time.Time, days int) *postgres.Store {
	t.Helper()
	s := open(t)
	if _, _, err := s.Journey.MaintainJourney(context.Background(), now, days); err != nil {
		t.Fatal(err)
	}
	return s
}

func item(id, account, customer, anon string, at time.Time) dowser.JourneyItem {
	return dowser.JourneyItem{EventID: id, Type: "page_view", Time: at, AccountID: account, CustomerID: customer, AnonymousID: anon,
		Title: "Title of " + id, URLPath: "/p/" + id}
}

func write(t *testing.T, s *postgres.Store, items ...dowser.JourneyItem) {
	t.Helper()
	if _, err := s.Journey.WriteJourney(context.Background(), items); err != nil {
		t.Fatal(err)
	}
}

// ids lists the event ids of a timeline, or fails the test.
func timelineIDs(t *testing.T, s *postgres.Store, q dowser.TimelineQuery) ([]string, *dowser.TimelineCursor) {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	page, err := s.Journey.Timeline(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range page.Items {
		out = append(out, it.EventID)
	}
	return out, page.Next
}

func TestJourneyTimelinePagesAndJoinsContent(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	s := journeyStore(t, now, 7)
	if err := s.Directory.PutContent(ctx, dowser.Content{ID: "pricing", Title: "Pricing", TalkingPoint: "Ask about seats."}); err != nil {
		t.Fatal(err)
	}
	if err := s.Privacy.RecordIdentityLink(ctx, "c-1", "anon-1"); err != nil {
		t.Fatal(err)
	}
	h := func(n int) time.Time { return now.Add(-time.Duration(n) * time.Hour) }
	e1 := item("e1", "acme", "c-1", "", h(5))
	e1.ContentID = "pricing"
	write(t, s, e1, item("e2", "acme", "c-2", "", h(4)), item("e3", "", "", "anon-1", h(3)),
		item("e4", "other", "c-9", "", h(2)), item("e5", "acme", "c-1", "", h(1)), item("old", "acme", "c-1", "", h(24*6)))
	write(t, s, item("e5", "acme", "c-1", "", h(1))) // replayed after a restart

	got, next := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: h(48)})
	if want := []string{"e5", "e2", "e1"}; !slices.Equal(got, want) || next != nil {
		t.Errorf("acme's timeline = %q (next %v), want %q once each, newest first, without older days", got, next, want)
	}
	got, _ = timelineIDs(t, s, dowser.TimelineQuery{CustomerID: "c-1", Since: h(48)})
	if want := []string{"e5", "e3", "e1"}; !slices.Equal(got, want) {
		t.Errorf("c-1's timeline = %q, want %q (anon-1's visit is theirs)", got, want)
	}

	// Paging: two at a time, without gaps or repeats.
	var all []string
	var cur *dowser.TimelineCursor
	for range 3 {
		page, next := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: h(24 * 7), Limit: 2, After: cur})
		all = append(all, page...)
		if cur = next; cur == nil {
			break
		}
	}
	if want := []string{"e5", "e2", "e1", "old"}; !slices.Equal(all, want) {
		t.Errorf("paged by two: %q, want %q", all, want)
	}

	page, err := s.Journey.Timeline(ctx, dowser.TimelineQuery{AccountID: "acme", Since: h(48), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	last := page.Items[len(page.Items)-1]
	if last.ContentTitle != "Pricing" || last.TalkingPoint != "Ask about seats." || last.Title != "Title of e1" || last.URLPath != "/p/e1" {
		t.Errorf("e1 = %+v, want the content's title and talking point beside its own title and path", last)
	}
}

func TestJourneyHidesDoNotTrack(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	s := journeyStore(t, now, 7)
	if err := s.Privacy.RecordIdentityLink(ctx, "c-2", "anon-2"); err != nil {
		t.Fatal(err)
	}
	write(t, s, item("e1", "acme", "c-1", "", now.Add(-3*time.Hour)), item("e2", "acme", "c-2", "", now.Add(-2*time.Hour)),
		item("e3", "acme", "", "anon-2", now.Add(-time.Hour)))
	if err := s.Privacy.SetDoNotTrack(ctx, dowser.DNTCustomer, "c-2", true, "admin"); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour)
	if got, _ := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: since}); !slices.Equal(got, []string{"e1"}) {
		t.Errorf("acme's timeline with c-2 not tracked = %q, want only e1 (not c-2's, nor their anonymous visit)", got)
	}
	if got, _ := timelineIDs(t, s, dowser.TimelineQuery{CustomerID: "c-2", Since: since}); len(got) != 0 {
		t.Errorf("c-2's timeline = %q, want nothing", got)
	}
	if err := s.Privacy.SetDoNotTrack(ctx, dowser.DNTAccount, "acme", true, "admin"); err != nil {
		t.Fatal(err)
	}
	if got, _ := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: since}); len(got) != 0 {
		t.Errorf("acme's timeline with acme not tracked = %q, want nothing", got)
	}
}

func TestJourneyErasureDeletesLinkedRowsAndKeepsThemOut(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	s := journeyStore(t, now, 7)
	if err := s.Privacy.RecordIdentityLink(ctx, "c-1", "anon-1"); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Hour)
	write(t, s, item("e1", "acme", "c-1", "", at), item("e2", "acme", "", "anon-1", at), item("e3", "acme", "c-1", "anon-1", at),
		item("e4", "acme", "c-2", "", at))
	if _, _, err := s.Privacy.EraseCustomer(ctx, "c-1", "admin"); err != nil {
		t.Fatal(err)
	}
	since := now.Add(-24 * time.Hour)
	if got, _ := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: since}); !slices.Equal(got, []string{"e4"}) {
		t.Errorf("acme's timeline after erasing c-1 = %q, want only c-2's e4", got)
	}
	var left int
	if err := s.Checkpoints.Pool().QueryRow(ctx, `SELECT count(*) FROM journey WHERE customer_id = 'c-1' OR anonymous_id = 'anon-1'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d rows of c-1 or anon-1 left in the table, want none", left)
	}
	// A batch buffered before the erasure and written after it.
	n, err := s.Journey.WriteJourney(ctx, []dowser.JourneyItem{item("e5", "acme", "c-1", "", at), item("e6", "acme", "", "anon-1", at), item("e7", "acme", "c-3", "", at)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: since}); n != 1 || !slices.Equal(got, []string{"e7", "e4"}) {
		t.Errorf("a batch written while the erasure is queued wrote %d rows, timeline %q; want only c-3's e7 added", n, got)
	}
}

func TestJourneyRetentionDropsDays(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 10, 15, 0, 0, 0, time.UTC)
	s := open(t)
	created, dropped, err := s.Journey.MaintainJourney(ctx, now, 3)
	if err != nil {
		t.Fatal(err)
	}
	if created != 3+1+postgres.JourneyAhead || dropped != 0 {
		t.Errorf("first maintenance created %d, dropped %d; want %d, 0", created, dropped, 3+1+postgres.JourneyAhead)
	}
	write(t, s, item("d7", "acme", "c-1", "", time.Date(2026, 11, 7, 1, 0, 0, 0, time.UTC)),
		item("d9", "acme", "c-1", "", time.Date(2026, 11, 9, 23, 0, 0, 0, time.UTC)))
	if _, err := s.Journey.WriteJourney(ctx, []dowser.JourneyItem{item("d6", "acme", "c-1", "", time.Date(2026, 11, 6, 23, 0, 0, 0, time.UTC))}); err == nil {
		t.Error("a row of a day without a partition was written; want an error")
	}
	// Two days later: the 7th and 8th go, two days ahead are added.
	created, dropped, err = s.Journey.MaintainJourney(ctx, now.AddDate(0, 0, 2), 3)
	if err != nil {
		t.Fatal(err)
	}
	if created != 2 || dropped != 2 {
		t.Errorf("maintenance two days on created %d, dropped %d partitions; want 2, 2", created, dropped)
	}
	got, _ := timelineIDs(t, s, dowser.TimelineQuery{AccountID: "acme", Since: now.AddDate(0, 0, -30)})
	if !slices.Equal(got, []string{"d9"}) {
		t.Errorf("rows after retention = %q, want d9 only", got)
	}
	var names []string
	rows, err := s.Checkpoints.Pool().Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'journey'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if want := "journey_20261109,journey_20261110,journey_20261111,journey_20261112,journey_20261113,journey_20261114"; strings.Join(names, ",") != want {
		t.Errorf("partitions = %s, want %s", strings.Join(names, ","), want)
	}
}

func TestJourneyWhoMaySee(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	s := journeyStore(t, now, 7)
	for _, u := range []string{"ana", "bob", "eve"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: u, Name: u, Role: dowser.RoleRep}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Directory.PutAccount(ctx, dowser.Account{ID: "acme", OwnerID: "ana", Lifecycle: dowser.LifecycleProspect}); err != nil {
		t.Fatal(err)
	}
	al := alert("al-1")
	al.AccountID, al.CustomerID = "globex", "c-7"
	if _, err := s.Alerts.SaveAlert(ctx, al, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	write(t, s, item("e1", "acme", "c-1", "", now.Add(-time.Hour)), item("e2", "globex", "c-8", "", now.Add(-time.Hour)))
	for _, c := range []struct {
		user, account, customer string
		want                    bool
	}{
		{"ana", "acme", "", true}, {"ana", "globex", "", false}, {"bob", "globex", "", true}, {"bob", "acme", "", false},
		{"eve", "acme", "", false}, {"eve", "globex", "", false},
		{"ana", "", "c-1", true}, {"ana", "", "c-8", false}, {"bob", "", "c-7", true}, {"bob", "", "c-8", true}, {"bob", "", "c-1", false},
		{"eve", "", "c-1", false},
	} {
		var got bool
		var err error
		if c.account != "" {
			got, err = s.Journey.MaySeeAccount(ctx, c.user, c.account)
		} else {
			got, err = s.Journey.MaySeeCustomer(ctx, c.user, c.customer)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("may %s see %s%s = %v, want %v", c.user, c.account, c.customer, got, c.want)
		}
	}
}

func BenchmarkJourneyWrite(b *testing.B) {
	ctx := context.Background()
	s, _ := openBench(b)
	now := time.Now().UTC()
	if _, _, err := s.Journey.MaintainJourney(ctx, now, 1); err != nil {
		b.Fatal(err)
	}
	const batch = 8192
	items := make([]dowser.JourneyItem, batch)
	b.ResetTimer()
	rows := 0
	for i := 0; i < b.N; i++ {
		for j := range items {
			n := i*batch + j
			items[j] = dowser.JourneyItem{EventID: fmt.Sprintf("evt-%d", n), Type: "page_view", Time: now.Add(-time.Duration(n%3600) * time.Second),
				AccountID: fmt.Sprintf("acct-%d", n%1000), CustomerID: fmt.Sprintf("c-%d", n%20000), ContentID: "pricing",
				Title: "Pricing", URLPath: "/pricing"}
		}
		w, err := s.Journey.WriteJourney(ctx, items)
		if err != nil {
			b.Fatal(err)
		}
		rows += w
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
