package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// TestLinkActsOnceUnderConcurrentUse uses one link from eight goroutines at
// once: exactly one acts, the others find it used; a link for an alert
// not sent to its user acts on nothing and records nothing.
func TestLinkActsOnceUnderConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, u := range []string{"ana", "ben"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: u, Name: u, Role: dowser.RoleRep}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	l := dowser.Link{Action: dowser.LinkAck, AlertID: "al-1", UserID: "ana", Expires: now.Add(time.Hour), Nonce: "nonce-1"}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Alerts.UseLink(ctx, l, now) })
	}
	wg.Wait()
	var ok, used int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, dowser.ErrLinkUsed):
			used++
		default:
			t.Errorf("UseLink: %v", err)
		}
	}
	if ok != 1 || used != 7 {
		t.Errorf("8 concurrent uses: %d acted, %d found it used; want 1 and 7", ok, used)
	}
	page, err := s.Alerts.FindAlerts(ctx, dowser.AlertQuery{UserID: "ana", State: dowser.AlertAcked, Limit: 10})
	if err != nil || len(page.Alerts) != 1 {
		t.Errorf("ana's acked alerts %+v, %v; want al-1", page.Alerts, err)
	}

	bens := dowser.Link{Action: dowser.LinkAck, AlertID: "al-1", UserID: "ben", Expires: now.Add(time.Hour), Nonce: "nonce-2"}
	if err := s.Alerts.UseLink(ctx, bens, now); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("ben's link to ana's alert: %v, want ErrNotFound", err)
	}
	if used, err := s.Alerts.LinkUsed(ctx, "nonce-2"); err != nil || used {
		t.Errorf("the refused link was recorded as used (%v, %v)", used, err)
	}
}
