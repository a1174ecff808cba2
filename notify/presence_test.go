package notify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/schema"
)

// fakePresenceStore answers beats with others, or fails with err.
type fakePresenceStore struct {
	mu       sync.Mutex
	others   []string
	err      error
	instance string
	left     bool
}

func (f *fakePresenceStore) BeatPresence(_ context.Context, instance string, _ []string, _ time.Duration) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instance = instance
	return f.others, f.err
}

func (f *fakePresenceStore) LeavePresence(_ context.Context, instance string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = instance == f.instance
	return nil
}

// TestClusterPresenceCountsOtherInstancesUntilItsReadIsStale checks that a
// user connected elsewhere counts after a refresh, that a failing store
// keeps the last read only for a lease, and that the instance name gets a
// per-process suffix and its records are removed on the way out.
func TestClusterPresenceCountsOtherInstancesUntilItsReadIsStale(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub := NewHub(HubConfig{}, h, h, prometheus.NewRegistry())
	store := &fakePresenceStore{others: []string{"ben"}}
	p, err := NewClusterPresence(ClusterPresenceConfig{Store: store, Local: hub, Instance: "a", Lease: time.Second, Refresh: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if p.Connected("ben") {
		t.Error("ben counts before any refresh")
	}
	if err := p.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !p.Connected("ben") || p.Connected("cy") {
		t.Errorf("after a refresh: ben %v (want true), cy %v (want false)", p.Connected("ben"), p.Connected("cy"))
	}
	if !strings.HasPrefix(store.instance, "a/") || len(store.instance) <= len("a/") {
		t.Errorf("records under %q, want a/ and a per-process suffix", store.instance)
	}
	store.err = errors.New("unreachable")
	if err := p.Refresh(context.Background()); err == nil {
		t.Fatal("a failing store's refresh returned no error")
	}
	if !p.Connected("ben") {
		t.Error("one failed refresh dropped ben; the last read holds for a lease")
	}
	p.mu.Lock()
	p.readAt = time.Now().Add(-2 * time.Second) // older than the lease
	p.mu.Unlock()
	if p.Connected("ben") {
		t.Error("ben still counts from a read older than the lease")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if !store.left {
		t.Error("Run did not remove this instance's records on the way out")
	}
	if _, err := NewClusterPresence(ClusterPresenceConfig{Store: store, Local: hub, Lease: time.Second, Refresh: 600 * time.Millisecond}); err == nil {
		t.Error("a refresh over half the lease was accepted")
	}
}
