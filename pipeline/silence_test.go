package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// TestQuietPartitionFiresSilences: a partition that handles no more
// events advances its event time by the wall clock at its checkpoints, so
// that a silence fires; its alert is stored before the checkpoint, once,
// and a storage failure holds the checkpoint back until it is stored.
func TestQuietPartitionFiresSilences(t *testing.T) {
	ctx := context.Background()
	doc := `{"id":"quiet","owner":"o","when":{"silence":{"after":{"type":"webinar_attended"},"expect":[{"type":"login"}],"within":"1m"}}}`
	store := &fakeStore{fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{{ID: "quiet", Version: 1, Enabled: true, Document: []byte(doc)}}}}
	p, err := New(Config{
		Group: "g", Topic: "events",
		Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
		Router: toOwner{}, Hub: &fakeHub{}, Broadcast: &fakeBroadcast{},
		// Every checkpoint finds the partition quiet.
		SignalsPoll: time.Second, CheckpointInterval: time.Nanosecond,
		PrivacyKey: []byte("k-0123456789abcdef0123456789abcdef"),
		Logger:     slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	h, _, err := p.Partition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour) // the wait ended 59 minutes ago
	trigger := &schema.Event{ID: "a1", Type: "webinar_attended", Time: at, Customer: schema.Customer{ID: "c-1"}}
	// The newest event: the partition's event time runs on from it.
	other := &schema.Event{ID: "v1", Type: "page_view", Time: time.Now().Add(-time.Minute), Customer: schema.Customer{ID: "c-2"}}
	for _, ev := range []*schema.Event{trigger, other} {
		if err := h.Handle(ctx, ev); err != nil || len(store.saved) != 0 {
			t.Fatalf("%s: err %v, saved %v", ev.ID, err, store.saved)
		}
	}
	w := h.(*partitionWorker)
	if !w.CheckpointDue() {
		t.Fatal("a quiet partition asks for no checkpoint: its silences would wait for the next event")
	}
	down := errors.New("postgres down")
	store.saveErr = down
	if _, err := h.Checkpoint(ctx, 2, false); !errors.Is(err, down) {
		t.Fatalf("storage down: checkpoint err %v, want it returned", err)
	}
	if store.cp.NextOffset == 2 {
		t.Fatal("the checkpoint was saved before the alert it counts")
	}
	if _, err := h.Checkpoint(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	want := []string{schema.AlertID("quiet", 1, "customer:c-1", "a1")}
	if !slices.Equal(store.saved, want) || store.cp.NextOffset != 2 {
		t.Fatalf("saved %v with offset %d, want %v with 2", store.saved, store.cp.NextOffset, want)
	}
	if _, err := h.Checkpoint(ctx, 2, true); err != nil || len(store.saved) != 1 {
		t.Fatalf("again: err %v, saved %v; want the alert once", err, store.saved)
	}
}

// TestReplayIsNotAdvancedToTheWallClock: a partition replaying history
// (events far older than the wall clock) that goes quiet advances its
// event time only by the time it was quiet, so that its next events are
// not made late.
func TestReplayIsNotAdvancedToTheWallClock(t *testing.T) {
	ctx := context.Background()
	doc := `{"id":"quiet","owner":"o","when":{"silence":{"after":{"type":"webinar_attended"},"expect":[{"type":"login"}],"within":"1m"}}}`
	store := &fakeStore{fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{{ID: "quiet", Version: 1, Enabled: true, Document: []byte(doc)}}}}
	p, err := New(Config{
		Group: "g", Topic: "events",
		Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
		Router: toOwner{}, Hub: &fakeHub{}, Broadcast: &fakeBroadcast{},
		SignalsPoll: time.Second, CheckpointInterval: time.Nanosecond,
		PrivacyKey: []byte("k-0123456789abcdef0123456789abcdef"),
		Logger:     slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	h, _, err := p.Partition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	if err := h.Handle(ctx, &schema.Event{ID: "a1", Type: "webinar_attended", Time: old, Customer: schema.Customer{ID: "c-1"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := h.Checkpoint(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	w, ok := h.(*partitionWorker).engine.Watermark()
	if quiet := time.Since(start) + time.Second; !ok || w.Before(old) || w.After(old.Add(quiet)) {
		t.Fatalf("event time %v (%v), want at most the quiet time after %v", w, ok, old)
	}
	if len(store.saved) != 0 {
		t.Fatalf("saved %v: the wait of a replay ended by the wall clock", store.saved)
	}
}
