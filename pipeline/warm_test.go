package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
)

// TestWarmRestartRestoresBeforeTheAssignment: a restarted instance
// restores the partitions it held before the group assigns them, and the
// assignment takes that state, unless it was saved again in between, when
// the partition restores anew; either way it evaluates as the original.
func TestWarmRestartRestoresBeforeTheAssignment(t *testing.T) {
	ctx := context.Background()
	store := &fakeStore{fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{storedSignal("views", 0)}}}
	newPipeline := func(instance string) *Pipeline {
		t.Helper()
		p, err := New(Config{
			Group: "g", Topic: "t", Instance: instance, Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
			Router: toOwner{}, Hub: &fakeHub{}, Broadcast: &fakeBroadcast{}, SignalsPoll: time.Hour,
			Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := newPipeline("pod-a")
	h, _, err := first.Partition(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := h.Handle(ctx, testEvent(i, fmt.Sprintf("c-%d", i%3))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.Checkpoint(ctx, 10, true); err != nil {
		t.Fatal(err)
	}
	original := h.(*partitionWorker).engine

	for _, c := range []struct {
		name       string
		instance   string
		savedSince bool
		// rows loads by Warm, and in all
		warmLoads, loads int
	}{
		{"the same instance", "pod-a", false, 1, 1},
		{"saved since", "pod-a", true, 1, 2},
		{"another instance", "pod-b", false, 0, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			store.loads = 0
			p := newPipeline(c.instance)
			p.Warm(ctx)
			p.warm.mu.Lock()
			w := p.warm.m[0]
			p.warm.mu.Unlock()
			if w != nil {
				<-w.done
			}
			if store.loads != c.warmLoads {
				t.Errorf("rows loaded %d times ahead of the assignment, want %d", store.loads, c.warmLoads)
			}
			if c.savedSince {
				// Another owner saves after the warm read, before our claim.
				o, _ := store.ClaimCheckpoint(ctx, "g", "t", 0, "pod-z/x")
				if err := store.SaveCheckpointDelta(ctx, "g", "t", 0, o.Owner, &dowser.CheckpointDelta{NextOffset: 10, Meta: store.cp.Meta}); err != nil {
					t.Fatal(err)
				}
			}
			h, from, err := p.Partition(ctx, 0)
			if err != nil || from != 10 {
				t.Fatalf("partition: from %d, err %v", from, err)
			}
			if store.loads != c.loads {
				t.Errorf("rows loaded %d times in all, want %d", store.loads, c.loads)
			}
			restored := h.(*partitionWorker).engine
			for i := 10; i < 20; i++ {
				ev := testEvent(i, fmt.Sprintf("c-%d", i%3))
				if a, b := alertIDs(restored.Evaluate(ev)), alertIDs(original.Evaluate(ev)); fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("event %d: restored fires %v, original %v", i, a, b)
				}
			}
			// Both engines have now seen 10..19; the next case starts
			// from the stored state at 10 again.
			original = restoredAt10(t, ctx, store, newPipeline)
		})
	}
}

// restoredAt10 is an engine restored from the store's checkpoint, for the
// next case to compare with.
func restoredAt10(t *testing.T, ctx context.Context, store *fakeStore, newPipeline func(string) *Pipeline) *detector.Engine {
	t.Helper()
	p := newPipeline("")
	r, err := p.restore(ctx, 0, store.cp)
	if err != nil {
		t.Fatal(err)
	}
	return r.engine
}
