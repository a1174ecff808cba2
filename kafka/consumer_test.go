package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// recorder is a Processor keeping a copy of every event handled and every
// checkpoint, by partition.
type recorder struct {
	mu          sync.Mutex
	events      map[int][]schema.Event
	checkpoints map[int][]int64
	// failOnce makes the first attempt at the event of this id fail.
	failOnce string
	failed   bool
	// openFails is how many more times opening a partition fails, as a
	// storage outage during a restore would.
	openFails int
	changed   chan struct{}
}

func newRecorder() *recorder {
	return &recorder{events: map[int][]schema.Event{}, checkpoints: map[int][]int64{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.openFails > 0 {
		r.openFails--
		return nil, 0, errors.New("restoring: connection refused")
	}
	return &recordingPartition{r: r, partition: partition}, 0, nil
}

// wait returns when ok holds for the recorder, or fails t after a minute.
func (r *recorder) wait(t *testing.T, what string, ok func(r *recorder) bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		r.mu.Lock()
		done := ok(r)
		r.mu.Unlock()
		if done {
			return
		}
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("no %s after a minute", what)
		}
	}
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

type recordingPartition struct {
	r         *recorder
	partition int
	last      *schema.Event
}

func (h *recordingPartition) Handle(ctx context.Context, ev *schema.Event) error {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if ev.ID == h.r.failOnce && !h.r.failed {
		h.r.failed = true
		h.last = ev
		return errors.New("failing once")
	}
	if h.last != nil && h.last != ev {
		return fmt.Errorf("retried event %s with another pointer", ev.ID)
	}
	h.last = nil
	cp := *ev
	cp.Properties = maps.Clone(ev.Properties)
	h.r.events[h.partition] = append(h.r.events[h.partition], cp)
	h.r.signal()
	return nil
}

func (h *recordingPartition) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.r.checkpoints[h.partition] = append(h.r.checkpoints[h.partition], nextOffset)
	h.r.signal()
	return nextOffset, nil
}

// testEvent is a valid encoded event, the i-th of account.
func testEvent(account string, i int) []byte {
	return fmt.Appendf(nil, `{"id":"evt-%s-%d","type":"page_view","time":"2026-11-23T07:%02d:00Z","source":"web",`+
		`"customer":{"id":"c-%d","account_id":%q},"properties":{"url":"https://example.com/p%d","title":"Page %d","n":%d}}`,
		account, i, i%60, i%3, account, i%5, i%5, i)
}

func TestConsumer(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "events"
	if err := kafka.EnsureTopics(ctx, kafka.Cluster{Brokers: b.Brokers()}, 1, 1, topic, kafka.DLQTopic(topic)); err != nil {
		t.Fatal(err)
	}

	// Valid events with bad ones among them, in one partition.
	var values [][]byte
	bad := map[int]string{3: schema.ReasonNotJSON, 7: schema.ReasonMissingField, 11: schema.ReasonBadField, 12: schema.ReasonTooLarge}
	for i := range 20 {
		v := testEvent("acme", i)
		switch bad[i] {
		case schema.ReasonNotJSON:
			v = v[:len(v)-1]
		case schema.ReasonMissingField:
			v = []byte(strings.Replace(string(v), `"id":"evt`, `"name":"evt`, 1))
		case schema.ReasonBadField:
			v = []byte(strings.Replace(string(v), `"2026-11-23T`, `"yesterday `, 1))
		case schema.ReasonTooLarge:
			v = []byte(strings.Replace(string(v), `"web"`, `"`+strings.Repeat("w", 1<<10)+`"`, 1))
		}
		values = append(values, v)
	}
	p := kafka.NewProducer(kafka.Cluster{Brokers: b.Brokers()}, topic)
	defer p.Close()
	for _, v := range values {
		if err := p.Produce(ctx, kafka.Message{Key: []byte("acme"), Value: v}); err != nil {
			t.Fatal(err)
		}
	}

	rec := newRecorder()
	rec.failOnce = "evt-acme-5"
	rec.openFails = 2
	var logs lockedBuffer
	c, err := kafka.NewConsumer(kafka.Config{
		Cluster: kafka.Cluster{Brokers: b.Brokers()}, Topic: topic, MaxEventBytes: 1 << 10,
		CheckpointInterval: 300 * time.Millisecond, MaxWait: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}, rec, kafka.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(cctx) }()
	defer func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// Every valid event is handled once, in order, as ParseEvent decodes it.
	var want []schema.Event
	for i, v := range values {
		if _, isBad := bad[i]; isBad {
			continue
		}
		ev, err := schema.ParseEvent(v, 0)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	rec.wait(t, "events", func(r *recorder) bool { return len(r.events[0]) >= len(want) })
	// An idle partition checkpoints after CheckpointInterval.
	rec.wait(t, "idle checkpoint", func(r *recorder) bool {
		cps := r.checkpoints[0]
		return len(cps) > 0 && cps[len(cps)-1] == int64(len(values))
	})
	rec.mu.Lock()
	got, failed := rec.events[0], rec.failed
	rec.mu.Unlock()
	// Opening failed twice and was retried in place: no new generation,
	// which on a real cluster is a rebalance of every member.
	if n := strings.Count(logs.String(), `msg="partitions assigned"`); n != 1 {
		t.Errorf("partitions assigned %d times, want once: a failed open was retried by rejoining the group", n)
	}
	if !failed {
		t.Errorf("event %s never failed", rec.failOnce)
	}
	if len(got) != len(want) {
		t.Fatalf("handled %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// The bad ones are on the dead-letter topic, with why and where.
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Brokers(), Topic: kafka.DLQTopic(topic), Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	for n := range len(bad) {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading dead letter %d: %v", n, err)
		}
		h := map[string]string{}
		for _, hd := range msg.Headers {
			h[hd.Key] = string(hd.Value)
		}
		var offset int
		if _, err := fmt.Sscan(h[kafka.HeaderOffset], &offset); err != nil {
			t.Fatalf("dead letter %d: offset header %q", n, h[kafka.HeaderOffset])
		}
		if h[kafka.HeaderReason] != bad[offset] || !strings.HasPrefix(h[kafka.HeaderError], bad[offset]+": ") ||
			h[kafka.HeaderTopic] != topic || h[kafka.HeaderPartition] != "0" || string(msg.Value) != string(values[offset]) || string(msg.Key) != "acme" {
			t.Errorf("dead letter %d: headers %v, key %q, value %q; want reason %q for offset %d", n, h, msg.Key, msg.Value, bad[offset], offset)
		}
	}
}

// BenchmarkConsumer measures the consumer with a handler that does nothing
// against the bare reader of DrainTopic, over the same events in an
// in-process broker: ns/op is a second of consuming, events/s and
// vs_drain what it does.
func BenchmarkConsumer(b *testing.B) {
	const partitions, n = 2, 200_000
	br, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Close)
	ctx := context.Background()
	const topic = "bench"
	if err := kafka.EnsureTopics(ctx, kafka.Cluster{Brokers: br.Brokers()}, partitions, 1, topic, kafka.DLQTopic(topic)); err != nil {
		b.Fatal(err)
	}
	p := kafka.NewProducer(kafka.Cluster{Brokers: br.Brokers()}, topic)
	batch := make([]kafka.Message, 0, 5000)
	for i := range n {
		account := fmt.Sprintf("acct-%d", i%50)
		batch = append(batch, kafka.Message{Key: []byte(account), Value: testEvent(account, i)})
		if len(batch) == cap(batch) {
			if err := p.Produce(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	p.Close()

	var drainEPS, consumeEPS float64
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := kafka.DrainTopic(ctx, kafka.Cluster{Brokers: br.Brokers()}, topic); err != nil {
			b.Fatal(err)
		}
		drainEPS += n / time.Since(start).Seconds()

		proc := &countingProcessor{target: n, done: make(chan struct{})}
		c, err := kafka.NewConsumer(kafka.Config{Cluster: kafka.Cluster{Brokers: br.Brokers()}, Topic: topic, GroupID: fmt.Sprintf("bench-%d", i)},
			proc, kafka.NewMetrics(prometheus.NewRegistry()))
		if err != nil {
			b.Fatal(err)
		}
		cctx, stop := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- c.Run(cctx) }()
		<-proc.done
		consumeEPS += n / proc.doneAt.Sub(proc.started).Seconds()
		stop()
		<-errc
	}
	b.ReportMetric(drainEPS/float64(b.N), "drain_events/s")
	b.ReportMetric(consumeEPS/float64(b.N), "consumer_events/s")
	b.ReportMetric(consumeEPS/drainEPS, "vs_drain")
}

// countingProcessor counts events from the first partition assigned.
type countingProcessor struct {
	mu      sync.Mutex
	started time.Time
	doneAt  time.Time
	handled int
	target  int
	done    chan struct{}
}

func (p *countingProcessor) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	p.mu.Lock()
	if p.started.IsZero() {
		p.started = time.Now()
	}
	p.mu.Unlock()
	return countingPartition{p}, 0, nil
}

type countingPartition struct{ p *countingProcessor }

func (h countingPartition) Handle(ctx context.Context, ev *schema.Event) error {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if h.p.handled++; h.p.handled == h.p.target {
		h.p.doneAt = time.Now()
		close(h.p.done)
	}
	return nil
}

func (countingPartition) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	return nextOffset, nil
}

// lockedBuffer is a bytes.Buffer safe for a logger and a test at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
