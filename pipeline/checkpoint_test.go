package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// fakeCheckpoints keeps one partition's checkpoint in memory, applying
// deltas as PostgreSQL would. A test may hold writes at gate, fail the
// next ones with failNext, or fence the owner.
type fakeCheckpoints struct {
	mu       sync.Mutex
	cp       dowser.Checkpoint
	rows     map[string][]byte
	owner    string
	writes   int
	loads    int
	gate     chan struct{} // when set, each write waits for a receive
	failNext int
	entered  chan struct{} // when set, each write sends on it first
	// paced, when set, makes each write wait for its hurry (dowser.Hurry),
	// as a paced compaction of the store would pause until then.
	paced bool
}

func (s *fakeCheckpoints) ClaimCheckpoint(_ context.Context, _, _ string, _ int, owner string) (dowser.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner = owner
	if s.cp.ID == 0 {
		s.cp = dowser.Checkpoint{ID: 1, NextOffset: -1}
	}
	s.cp.Owner = owner
	return s.cp, nil
}

func (s *fakeCheckpoints) CheckpointStates(context.Context, string, string) (map[int]dowser.Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cp.ID == 0 {
		return nil, nil
	}
	return map[int]dowser.Checkpoint{0: s.cp}, nil
}

func (s *fakeCheckpoints) LoadCheckpointRows(_ context.Context, id int64, fn func(string, []byte) error) error {
	s.mu.Lock()
	rows := maps.Clone(s.rows)
	s.loads++
	s.mu.Unlock()
	for k, v := range rows {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *fakeCheckpoints) SaveCheckpointDelta(ctx context.Context, _, _ string, _ int, owner string, d *dowser.CheckpointDelta) error {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.paced {
		select {
		case <-dowser.Hurry(ctx):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if owner != s.owner {
		return fmt.Errorf("saving: %w", dowser.ErrNotOwner)
	}
	if s.failNext > 0 {
		s.failNext--
		return errors.New("connection reset")
	}
	if d.Reset || s.rows == nil {
		s.rows = map[string][]byte{}
	}
	for _, r := range d.Rows {
		if r.Data == nil {
			delete(s.rows, r.Key)
		} else {
			s.rows[r.Key] = r.Data
		}
	}
	s.cp.NextOffset, s.cp.ErasureSeq, s.cp.Meta, s.cp.Legacy = d.NextOffset, d.ErasureSeq, d.Meta, nil
	s.cp.Saves++
	s.writes++
	return nil
}

// A final checkpoint (a revoke, a shutdown) hurries the background write
// it must wait for: a paced compaction in it stops pausing.
func TestFinalCheckpointHurriesTheWriteInFlight(t *testing.T) {
	ctx := context.Background()
	store := &fakeStore{
		fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{storedSignal("views", 0)}},
	}
	p, err := New(Config{
		Group: "g", Topic: "t", Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
		Router: toOwner{}, Hub: &fakeHub{}, Broadcast: &fakeBroadcast{}, SignalsPoll: time.Hour, CheckpointInterval: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
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
	for i := range 5 {
		if err := h.Handle(ctx, testEvent(i, "c-1")); err != nil {
			t.Fatal(err)
		}
	}
	store.paced, store.entered = true, make(chan struct{}, 10)
	if _, err := h.Checkpoint(ctx, 5, false); err != nil {
		t.Fatal(err)
	}
	<-store.entered // in flight, pacing until hurried
	if err := h.Handle(ctx, testEvent(5, "c-1")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if durable, err := h.Checkpoint(wctx, 6, true); err != nil || durable != 6 {
		t.Fatalf("final checkpoint: durable %d, err %v; want 6", durable, err)
	}
}

// TestCheckpointsDoNotHoldUpTheEventPath: a checkpoint hands its delta to
// a background write and returns at once; while that write is held, events
// are handled, the next checkpoints are deferred (and counted), and kafka
// is told the older durable offset; a failed write is retried with the
// same delta; a final checkpoint waits for everything; and a new owner
// restores exactly what was handled.
func TestCheckpointsDoNotHoldUpTheEventPath(t *testing.T) {
	ctx := context.Background()
	store := &fakeStore{
		fakeSignals: fakeSignals{rev: 1, signals: []dowser.StoredSignal{storedSignal("views", 0)}},
	}
	reg := prometheus.NewRegistry()
	p, err := New(Config{
		Group: "g", Topic: "t", Checkpoints: store, Alerts: store, Accounts: store, Privacy: store, Signals: store,
		Router: toOwner{}, Hub: &fakeHub{}, Broadcast: &fakeBroadcast{}, SignalsPoll: time.Hour, CheckpointInterval: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx); err != nil {
		t.Fatal(err)
	}
	h, from, err := p.Partition(ctx, 0)
	if err != nil || from != -1 {
		t.Fatalf("partition: from %d, err %v", from, err)
	}
	handle := func(h kafka.PartitionHandler, offset int) {
		t.Helper()
		if err := h.Handle(ctx, testEvent(offset, fmt.Sprintf("c-%d", offset%7))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		handle(h, i)
	}
	store.gate, store.entered = make(chan struct{}), make(chan struct{}, 10)
	durable, err := h.Checkpoint(ctx, 10, false)
	if err != nil || durable != -1 {
		t.Fatalf("first checkpoint: durable %d, err %v; want -1 (still writing)", durable, err)
	}
	<-store.entered // the write is in flight, held at the gate
	for i := 10; i < 20; i++ {
		handle(h, i)
	}
	if durable, err := h.Checkpoint(ctx, 20, false); err != nil || durable != -1 {
		t.Fatalf("checkpoint during the write: durable %d, err %v; want -1", durable, err)
	}
	if n := counterValue(t, p.cp.deferred); n != 1 {
		t.Errorf("deferred checkpoints = %v, want 1", n)
	}
	if !h.(kafka.CheckpointRequester).CheckpointDue() {
		t.Error("changes wait behind the write, yet no checkpoint is due")
	}
	store.failNext = 1
	store.gate <- struct{}{} // the first try fails
	<-store.entered
	store.gate <- struct{}{} // the retry of the same delta lands
	for {
		if durable, err = h.Checkpoint(ctx, 20, false); err != nil {
			t.Fatal(err)
		}
		if durable == 10 {
			break
		}
	}
	<-store.entered // the second delta, offsets 10..19
	for i := 20; i < 25; i++ {
		handle(h, i)
	}
	store.gate <- struct{}{} // the second delta lands
	go func() {
		for range store.entered {
			store.gate <- struct{}{}
		}
	}()
	if durable, err := h.Checkpoint(ctx, 25, true); err != nil || durable != 25 {
		t.Fatalf("final checkpoint: durable %d, err %v; want 25", durable, err)
	}
	if n := counterValue(t, p.cp.failures); n != 1 {
		t.Errorf("failed writes = %v, want 1", n)
	}
	if store.cp.NextOffset != 25 || store.writes != 3 {
		t.Fatalf("stored offset %d after %d writes, want 25 after 3", store.cp.NextOffset, store.writes)
	}

	// The same 25 events in one engine, and a new owner restoring from
	// the rows: the next events fire the same alerts.
	store.gate, store.entered = nil, nil
	h2, from, err := p.Partition(ctx, 0)
	if err != nil || from != 25 {
		t.Fatalf("reopening: from %d, err %v", from, err)
	}
	w1, w2 := h.(*partitionWorker), h2.(*partitionWorker)
	for i := 25; i < 40; i++ {
		ev := testEvent(i, fmt.Sprintf("c-%d", i%7))
		a1, a2 := w1.engine.Evaluate(ev), w2.engine.Evaluate(ev)
		if fmt.Sprint(alertIDs(a1)) != fmt.Sprint(alertIDs(a2)) {
			t.Fatalf("event %d: the original engine fires %v, the restored one %v", i, alertIDs(a1), alertIDs(a2))
		}
	}

	// A fenced owner hears it at its next checkpoint.
	if _, err := p.cfg.Checkpoints.ClaimCheckpoint(ctx, "g", "t", 0, "someone-else"); err != nil {
		t.Fatal(err)
	}
	handle(h2, 40)
	_, err = h2.Checkpoint(ctx, 41, true)
	if !errors.Is(err, kafka.ErrNotOwner) {
		t.Fatalf("checkpoint after another owner claimed the partition: %v, want kafka.ErrNotOwner", err)
	}
}

func alertIDs(as []schema.Alert) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func testEvent(i int, customer string) *schema.Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &schema.Event{ID: fmt.Sprint("e", i), Type: schema.TypePageView, Time: at.Add(time.Duration(i) * time.Minute),
		Customer:   schema.Customer{ID: customer, AccountID: "acme"},
		Properties: map[string]any{"n": float64(1)}}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
