package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// TestChannelOutboxIsWrittenWithTheAlertOnce checks that saving an alert
// queues one delivery per enabled channel of each recipient, and that a
// replay queues none.
func TestChannelOutboxIsWrittenWithTheAlertOnce(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, u := range []string{"ana", "ben"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: u, Name: u, Role: dowser.RoleRep}, ""); err != nil {
			t.Fatal(err)
		}
	}
	add := func(user, target string, enabled bool) dowser.Channel {
		c, err := s.Channels.AddChannel(ctx, dowser.Channel{UserID: user, Kind: dowser.ChannelWebhook, Target: target, Enabled: enabled, Secret: "a-secret-of-sixteen"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	one, two := add("ana", "https://a.example/1", true), add("ana", "https://a.example/2", true)
	add("ana", "https://a.example/off", false)
	add("ben", "https://b.example/", true) // ben does not receive the alert
	for range 2 {
		if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := s.Channels.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]int{}
	for _, d := range claimed {
		got[d.ChannelID]++
		if d.AlertID != "al-1" || d.UserID != "ana" || d.Attempts != 1 || len(d.Alert) == 0 || d.Channel.Secret == "" {
			t.Errorf("claimed %+v: want alert al-1 for ana, attempt 1, with its alert body and channel secret", d)
		}
	}
	if len(claimed) != 2 || got[one.ID] != 1 || got[two.ID] != 1 {
		t.Errorf("claimed %d deliveries by channel %v, want one each on channels %d and %d", len(claimed), got, one.ID, two.ID)
	}
}

// TestClaimsShareWorkAndLeasesExpire: two dispatchers claiming at once get
// disjoint rows; a row claimed by a dispatcher that never marks it is due
// again after its lease; a mark by the dispatcher whose lease ran out
// changes nothing.
func TestClaimsShareWorkAndLeasesExpire(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, ""); err != nil {
		t.Fatal(err)
	}
	c, err := s.Channels.AddChannel(ctx, dowser.Channel{UserID: "ana", Kind: dowser.ChannelSlack, Target: "https://hooks.example/x", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		if _, err := s.Alerts.SaveAlert(ctx, alert("al-"+string(rune('a'+i%26))+string(rune('a'+i/26))), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			// Bounded: without leases the same rows would come back for ever.
			for range n {
				batch, err := s.Channels.ClaimDeliveries(ctx, 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, d := range batch {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("delivery %s claimed %d times within its lease", id, k)
		}
	}

	// A short lease: the row comes back, with the next attempt.
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-lease"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	first, err := s.Channels.ClaimDeliveries(ctx, 10, 50*time.Millisecond)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim = %v, %v; want the new delivery", first, err)
	}
	var again []dowser.ChannelDelivery
	deadline := time.Now().Add(30 * time.Second)
	for len(again) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a delivery whose lease ran out did not come due again")
		}
		time.Sleep(20 * time.Millisecond) // waiting out the lease: time is the event
		if again, err = s.Channels.ClaimDeliveries(ctx, 10, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if again[0].ID != first[0].ID || again[0].Attempts != 2 {
		t.Fatalf("reclaimed %+v, want delivery %s at attempt 2", again[0], first[0].ID)
	}
	// The first dispatcher wakes up and reports a failure: too late.
	if _, err := s.Channels.MarkFailed(ctx, first[0].ID, first[0].Attempts, 400, "stale", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Channels.MarkSent(ctx, again[0].ID, again[0].Attempts, 200); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Channels.ChannelDeliveries(ctx, "ana", c.ID, dowser.DeliveryFailed, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 0 {
		t.Errorf("a stale mark failed %d deliveries: %+v", len(ds), ds)
	}
	got, err := s.Channels.GetChannel(ctx, "ana", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sent != 1 || got.PausedAt != nil {
		t.Errorf("channel %+v: want 1 sent, not paused by the stale mark", got)
	}
	if _, err := s.Channels.GetChannel(ctx, "ben", c.ID); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("another user's read of the channel: %v, want ErrNotFound", err)
	}
}
