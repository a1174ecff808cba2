package broadcast_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/broadcast"
	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// fakeStore is an outbox held in memory.
type fakeStore struct {
	mu         sync.Mutex
	published  []int64
	tombstones []string // waiting for PublishTombstones
	marked     chan struct{}
	tombstoned chan struct{}
	// gone, when set, answers AlertsGone.
	gone func(ctx context.Context, ids []string) ([]string, error)
}

func (s *fakeStore) MarkPublished(_ context.Context, ids ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.published = append(s.published, ids...)
	s.marked <- struct{}{}
	return nil
}

func (s *fakeStore) AlertsGone(ctx context.Context, ids []string) ([]string, error) {
	if s.gone == nil {
		return nil, nil
	}
	return s.gone(ctx, ids)
}

func (s *fakeStore) PublishPending(context.Context, time.Duration, int, func(context.Context, []dowser.OutboxMessage) error) (int, error) {
	return 0, nil
}

func (s *fakeStore) PublishTombstones(ctx context.Context, _ int, publish func(context.Context, []string) error) (int, error) {
	s.mu.Lock()
	ids := s.tombstones
	s.tombstones = nil
	s.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	err := publish(ctx, ids)
	s.tombstoned <- struct{}{}
	return len(ids), err
}

// fakeHub collects what the tail fans out.
type fakeHub struct {
	mu  sync.Mutex
	got []schema.Delivery
	new chan struct{}
}

func (h *fakeHub) Deliver(ds ...schema.Delivery) {
	h.mu.Lock()
	h.got = append(h.got, ds...)
	h.mu.Unlock()
	h.new <- struct{}{}
}

// TestPublishedAlertReachesTheHubThroughTheTopic: an alert handed to
// Publish is on the alerts topic, keyed by its id, its outbox row is
// marked published, and the tail delivers its recipients to the hub; a
// tombstone delivers nothing.
func TestPublishedAlertReachesTheHubThroughTheTopic(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := &fakeStore{tombstones: []string{"al-erased"}, marked: make(chan struct{}, 16), tombstoned: make(chan struct{}, 16)}
	hub := &fakeHub{new: make(chan struct{}, 16)}
	cfg := broadcast.Config{
		Kafka: kafka.Cluster{Brokers: b.Brokers()}, Topic: "alerts", Partitions: 2, Replication: 1,
		RelayEvery: 50 * time.Millisecond, TombstonesEvery: 50 * time.Millisecond,
		Outbox: store, Erasures: store, Hub: hub, Logger: slog.New(slog.DiscardHandler),
	}
	if err := broadcast.EnsureTopic(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	bc, err := broadcast.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bc.Run(runCtx) }()

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	body := []byte(`{"id":"al-1"}`)
	deliveries := []schema.Delivery{{UserID: "ana", Seq: 3}, {UserID: "jane", Seq: 9}}
	bc.Publish(dowser.SavedAlert{AlertID: "al-1", OutboxID: 7, EventTime: at, Alert: body, Deliveries: deliveries})
	for _, c := range []chan struct{}{hub.new, store.marked, store.tombstoned} {
		select {
		case <-c:
		case <-ctx.Done():
			t.Fatal("the published alert never reached the hub, its outbox row was never marked, or the tombstone was never written")
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	hub.mu.Lock()
	got := hub.got
	hub.mu.Unlock()
	if len(got) != 2 || got[0].UserID != "ana" || got[0].Seq != 3 || got[1].UserID != "jane" || got[1].AlertID != "al-1" ||
		string(got[1].Alert) != string(body) || !got[1].EventTime.Equal(at) {
		t.Errorf("hub got %+v, want ana#3 and jane#9 of al-1 (and nothing of the tombstone)", got)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if !slices.Equal(store.published, []int64{7}) || len(store.tombstones) != 0 {
		t.Errorf("outbox rows marked published %v, tombstones left %v; want [7] and none", store.published, store.tombstones)
	}
}

// TestShutdownDuringPublishStillTombstonesAnErasedAlert: an alert erased
// while its message was being published gets a tombstone after that
// message, even when the service starts stopping right then; else the
// erased alert would stay on the compacted topic until its retention.
func TestShutdownDuringPublishStillTombstonesAnErasedAlert(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	store := &fakeStore{marked: make(chan struct{}, 16), tombstoned: make(chan struct{}, 16),
		gone: func(ctx context.Context, ids []string) ([]string, error) {
			stop() // the service is told to stop while it checks
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return ids, nil // erased meanwhile
		}}
	cl := kafka.Cluster{Brokers: b.Brokers()}
	cfg := broadcast.Config{
		Kafka: cl, Topic: "alerts", Partitions: 1, Replication: 1,
		RelayEvery: time.Hour, TombstonesEvery: time.Hour,
		Outbox: store, Erasures: store, Hub: &fakeHub{new: make(chan struct{}, 16)}, Logger: slog.New(slog.DiscardHandler),
	}
	if err := broadcast.EnsureTopic(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	bc, err := broadcast.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	done := make(chan error, 1)
	go func() { done <- bc.Run(runCtx) }()
	bc.Publish(dowser.SavedAlert{AlertID: "al-2", OutboxID: 8, EventTime: time.Now(), Alert: []byte(`{"id":"al-2"}`),
		Deliveries: []schema.Delivery{{UserID: "ana", Seq: 1}}})
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	h, err := kafka.OpenHistory(ctx, cl, "alerts", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var last kafka.Record
	n := 0
	if err := h.ReadRecords(ctx, func(r kafka.Record) error {
		if string(r.Key) == "al-2" {
			last, n = r, n+1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 2 || last.Value != nil {
		t.Errorf("al-2 has %d records on the topic, the last %q; want its message, then a tombstone", n, last.Value)
	}
}
