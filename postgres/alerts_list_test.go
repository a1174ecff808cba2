package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// listedIDs returns the alert ids of a page, in order.
func listedIDs(t *testing.T, page dowser.AlertPage) []string {
	t.Helper()
	var ids []string
	for _, la := range page.Alerts {
		var a schema.Alert
		if err := json.Unmarshal(la.Alert, &a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

func TestSavedAlertCarriesTheNamesOfItsAccountAndRep(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "rep-ana", Name: "Ana Ruiz", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Directory.PutAccount(ctx, dowser.Account{ID: "acme", Name: "Acme Freight", Lifecycle: dowser.LifecycleProspect}); err != nil {
		t.Fatal(err)
	}
	a := alert("al-named")
	a.Rep = "rep-ana"
	saved, err := s.Alerts.SaveAlert(ctx, a, []string{"rep-ana"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"account_name":"Acme Freight"`, `"rep":"rep-ana"`, `"rep_name":"Ana Ruiz"`, `"account_id":"acme"`} {
		if !strings.Contains(string(saved.Alert), want) {
			t.Errorf("saved alert %s lacks %s", saved.Alert, want)
		}
		if len(saved.Deliveries) != 1 {
			t.Fatalf("deliveries %+v, want one to rep-ana", saved.Deliveries)
		}
		if d := saved.Deliveries[0].Alert; !strings.Contains(string(d), want) {
			t.Errorf("delivered alert %s lacks %s", d, want)
		}
	}
	// An alert stored before its account had a name gets the name when
	// listed.
	old := alert("al-old")
	old.AccountID = "globex"
	if _, err := s.Alerts.SaveAlert(ctx, old, []string{"rep-ana"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Directory.PutAccount(ctx, dowser.Account{ID: "globex", Name: "Globex", Lifecycle: dowser.LifecycleProspect}); err != nil {
		t.Fatal(err)
	}
	page, err := s.Alerts.FindAlerts(ctx, dowser.AlertQuery{UserID: "rep-ana", AccountID: "globex", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Alerts) != 1 || !strings.Contains(string(page.Alerts[0].Alert), `"account_name": "Globex"`) {
		t.Errorf("listed %v, want al-old with the account's name", page.Alerts)
	}
}

func TestFindAlertsPagesWithoutRepeatsWhileAlertsArrive(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	const before = 25
	for i := range before {
		if _, err := s.Alerts.SaveAlert(ctx, alert(fmt.Sprintf("al-%02d", i)), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, user := range []string{"ana", ""} { // a recipient's listing, and an admin's
		t.Run("user="+user, func(t *testing.T) {
			// What one page shows before any alert arrives: the pages must
			// add up to it.
			all, err := s.Alerts.FindAlerts(ctx, dowser.AlertQuery{UserID: user, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			want := listedIDs(t, all)
			var seen []string
			q := dowser.AlertQuery{UserID: user, Limit: 7}
			pages := 0
			for {
				page, err := s.Alerts.FindAlerts(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				seen = append(seen, listedIDs(t, page)...)
				if page.Next == nil {
					break
				}
				// Alerts arrive between pages, concurrently: none of them
				// may shift the pages still to come.
				var wg sync.WaitGroup
				for j := range 3 {
					wg.Go(func() {
						if _, err := s.Alerts.SaveAlert(ctx, alert(fmt.Sprintf("al-new-%s-%d-%d", user, pages, j)), []string{"ana"}); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				q.After = page.Next
			}
			if user == "ana" && (len(want) != before || want[0] != fmt.Sprintf("al-%02d", before-1)) {
				t.Fatalf("one page listed %v, want the %d alerts newest first", want, before)
			}
			if !slices.Equal(seen, want) {
				t.Errorf("pages listed %v, want every alert stored before the first page once, newest first: %v", seen, want)
			}
			if wantPages := (len(want) + 6) / 7; pages != wantPages {
				t.Errorf("%d pages of 7 for %d alerts, want %d", pages, len(want), wantPages)
			}
		})
	}
}

func TestFindAlertsFilters(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	mk := func(id, account, signal, priority string, at time.Time) {
		a := alert(id)
		a.AccountID, a.SignalID, a.Priority, a.Time = account, signal, priority, at
		if _, err := s.Alerts.SaveAlert(ctx, a, []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	mk("al-a", "acme", "pricing", "high", day.Add(1*time.Hour))
	mk("al-b", "globex", "pricing", "low", day.Add(25*time.Hour))
	mk("al-c", "acme", "webinar", "urgent", day.Add(49*time.Hour))
	mk("al-d", "acme", "pricing", "medium", day.Add(50*time.Hour))
	if err := s.Alerts.Ack(ctx, "ana", "al-a", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Feedback(ctx, "ana", "al-b", "won", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Snooze(ctx, "ana", "al-c", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    dowser.AlertQuery
		want []string
	}{
		{"none", dowser.AlertQuery{}, []string{"al-d", "al-b", "al-a"}},
		{"account", dowser.AlertQuery{AccountID: "acme"}, []string{"al-d", "al-a"}},
		{"signal", dowser.AlertQuery{SignalID: "pricing"}, []string{"al-d", "al-b", "al-a"}},
		{"priorities", dowser.AlertQuery{Priorities: []string{"low", "high"}}, []string{"al-b", "al-a"}},
		{"from", dowser.AlertQuery{From: day.Add(24 * time.Hour)}, []string{"al-d", "al-b"}},
		{"to", dowser.AlertQuery{To: day.Add(25 * time.Hour)}, []string{"al-a"}},
		{"from and to", dowser.AlertQuery{From: day.Add(24 * time.Hour), To: day.Add(50 * time.Hour)}, []string{"al-b"}},
		{"new", dowser.AlertQuery{State: dowser.AlertNew}, []string{"al-d"}},
		{"acked", dowser.AlertQuery{State: dowser.AlertAcked}, []string{"al-b", "al-a"}},
		{"verdict", dowser.AlertQuery{State: dowser.AlertJudged}, []string{"al-b"}},
		{"snoozed", dowser.AlertQuery{State: dowser.AlertSnoozed}, []string{"al-c"}},
		{"account and state", dowser.AlertQuery{AccountID: "acme", State: dowser.AlertAcked}, []string{"al-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.UserID, q.Limit = "ana", 10
			page, err := s.Alerts.FindAlerts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := listedIDs(t, page); !slices.Equal(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := s.Alerts.FindAlerts(ctx, dowser.AlertQuery{State: dowser.AlertNew, Limit: 10}); err == nil {
		t.Error("every alert listed by state: no error, want one (state needs a recipient)")
	}
}

func TestSnoozedAlertHidesUntilItsTimeThenReturns(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-z"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	// Until a time that passes while the test watches: the database's
	// clock decides, so wait for it rather than for a fixed time.
	var now time.Time
	if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	until := now.Add(2 * time.Second)
	if err := s.Alerts.Snooze(ctx, "ana", "al-z", until); err != nil {
		t.Fatal(err)
	}
	list := func(state string) []dowser.ListedAlert {
		t.Helper()
		page, err := s.Alerts.FindAlerts(ctx, dowser.AlertQuery{UserID: "ana", State: state, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return page.Alerts
	}
	if got := list(""); len(got) != 0 {
		t.Fatalf("snoozed alert listed: %+v", got)
	}
	if got := list(dowser.AlertSnoozed); len(got) != 1 || got[0].SnoozedUntil == nil || !got[0].SnoozedUntil.Equal(until) {
		t.Fatalf("snoozed listing = %+v, want al-z until %v", got, until)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(list("")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the snoozed alert did not come back after its time")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := list(""); got[0].SnoozedUntil != nil {
		t.Errorf("returned alert still says snoozed until %v", got[0].SnoozedUntil)
	}
	if err := s.Alerts.Snooze(ctx, "bob", "al-z", until); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("snoozing another's alert: %v, want ErrNotFound", err)
	}
}
