package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// blockingHandler blocks in Handle on the event of id block, or in
// Checkpoint asked for offset blockCheckpoint, until release is closed,
// after saying so on blocked.
type blockingHandler struct {
	block           string
	blockCheckpoint int64
	blocked         chan struct{}
	release         chan struct{}
	handled         chan string
}

func (h *blockingHandler) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	return h, 0, nil
}

func (h *blockingHandler) Handle(ctx context.Context, ev *schema.Event) error {
	if ev.ID == h.block {
		close(h.blocked)
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.handled <- ev.ID
	return nil
}

func (h *blockingHandler) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	if nextOffset == h.blockCheckpoint {
		h.blockCheckpoint = -1 // once: the final checkpoint must pass
		close(h.blocked)
		select {
		case <-h.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return nextOffset, nil
}

// TestConsumerLagWhileStuck: a partition stuck on one event, or in one
// checkpoint, shows the backlog that grows behind it, not the end offset
// its reader saw when it fetched the last event, and shows 0 once it has
// caught up.
func TestConsumerLagWhileStuck(t *testing.T) {
	for _, stuck := range []string{"handle", "checkpoint"} {
		t.Run(stuck, func(t *testing.T) { testConsumerLagWhileStuck(t, stuck) })
	}
}

func testConsumerLagWhileStuck(t *testing.T, stuck string) {
	const topic, more = "events", 1000
	brokers := startPoisonBroker(t, topic, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := kafka.NewProducer(kafka.Cluster{Brokers: brokers}, topic)
	defer p.Close()
	if err := p.Produce(ctx, kafka.Message{Key: []byte("acme"), Value: testEvent("acme", 0)}); err != nil {
		t.Fatal(err)
	}
	h := &blockingHandler{blockCheckpoint: -1, blocked: make(chan struct{}), release: make(chan struct{}), handled: make(chan string, more+1)}
	// Stuck on the first event, or in the idle checkpoint after it; the
	// backlog behind it is the same.
	backlog := float64(more + 1)
	if stuck == "handle" {
		h.block = "evt-acme-0"
	} else {
		h.blockCheckpoint = 1
		backlog = more
	}
	reg := prometheus.NewRegistry()
	runConsumer(t, kafka.Config{Cluster: kafka.Cluster{Brokers: brokers}, Topic: topic, MaxWait: 50 * time.Millisecond,
		CheckpointInterval: 100 * time.Millisecond, LagInterval: 100 * time.Millisecond}, h, reg)
	select {
	case <-h.blocked:
	case <-ctx.Done():
		t.Fatalf("the handler never got stuck in %s", stuck)
	}

	batch := make([]kafka.Message, more)
	for i := range batch {
		batch[i] = kafka.Message{Key: []byte("acme"), Value: testEvent("acme", i+1)}
	}
	if err := p.Produce(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	lag := func() float64 { return gatheredGauge(t, reg, "dowser_consumer_lag", "partition", "0") }
	awaitGauge(t, "dowser_consumer_lag >= the backlog while stuck in "+stuck, lag, func(v float64) bool { return v >= backlog })
	if age := gatheredGauge(t, reg, "dowser_consumer_lag_age_seconds", "", ""); age < 0 {
		t.Errorf("dowser_consumer_lag_age_seconds absent while the consumer owns a partition")
	}

	close(h.release)
	for n := 0; n <= more; n++ {
		select {
		case <-h.handled:
		case <-ctx.Done():
			t.Fatalf("handled %d of %d events", n, more+1)
		}
	}
	awaitGauge(t, "dowser_consumer_lag 0 after draining", lag, func(v float64) bool { return v == 0 })
}

// gatheredGauge is the value of the gauge name with label=value (any
// series when label is ""), or -1 when there is none.
func gatheredGauge(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" {
				return m.GetGauge().GetValue()
			}
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

// awaitGauge polls get until ok holds, or fails t after 30 s with the last
// value: a gauge has no event to wait on.
func awaitGauge(t *testing.T, what string, get func() float64, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		v := get()
		if ok(v) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s; last value %v", what, v)
		}
		<-tick.C
	}
}
