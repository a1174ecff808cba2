package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// faultyProcessor hands out one handler whose Handle fails as fail says
// for an event id: nil handles it, an error fails this attempt.
type faultyProcessor struct {
	mu      sync.Mutex
	fail    func(id string, attempt int) error
	tries   map[string]int
	handled []string
	changed chan struct{}
}

func (p *faultyProcessor) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	return faultyHandler{p}, 0, nil
}

type faultyHandler struct{ p *faultyProcessor }

func (h faultyHandler) Handle(ctx context.Context, ev *schema.Event) error {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries[ev.ID]++
	if err := p.fail(ev.ID, p.tries[ev.ID]); err != nil {
		return err
	}
	p.handled = append(p.handled, ev.ID)
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return nil
}

func (faultyHandler) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	return nextOffset, nil
}

// awaitHandled waits until id was handled, or fails t after a minute.
func (p *faultyProcessor) awaitHandled(t *testing.T, id string) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		p.mu.Lock()
		done := len(p.handled) > 0 && p.handled[len(p.handled)-1] == id
		p.mu.Unlock()
		if done {
			return
		}
		select {
		case <-p.changed:
		case <-deadline:
			t.Fatalf("%s not handled within a minute", id)
		}
	}
}

// startPoisonBroker starts a broker with an events topic of one partition
// and a dead-letter topic that refuses records over dlqMax bytes.
func startPoisonBroker(t *testing.T, topic string, dlqMax int) []string {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(b.Brokers()...)}
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{
		{Topic: topic, NumPartitions: 1, ReplicationFactor: 1},
		{Topic: kafka.DLQTopic(topic), NumPartitions: 1, ReplicationFactor: 1,
			ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(dlqMax)}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	return b.Brokers()
}

func runConsumer(t *testing.T, cfg kafka.Config, proc kafka.Processor, reg *prometheus.Registry) *kafka.Consumer {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, proc, kafka.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

func TestConsumerDeadLettersPermanentFailuresAndTruncatesRefusedCopies(t *testing.T) {
	const topic = "events"
	brokers := startPoisonBroker(t, topic, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	large := []byte(`{"pad":"` + strings.Repeat("x", 5000) + `"}`)
	p := kafka.NewProducer(kafka.Cluster{Brokers: brokers}, topic)
	defer p.Close()
	for _, v := range [][]byte{testEvent("acme", 0), testEvent("acme", 1), large, testEvent("acme", 3)} {
		if err := p.Produce(ctx, kafka.Message{Key: []byte("acme"), Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	proc := &faultyProcessor{tries: map[string]int{}, changed: make(chan struct{}, 1), fail: func(id string, attempt int) error {
		switch {
		case id == "evt-acme-1":
			return fmt.Errorf("storing: %w: value refused (SQLSTATE 22P05)", kafka.ErrPermanent)
		case id == "evt-acme-3" && attempt == 1:
			return errors.New("connection reset") // transient: retried
		}
		return nil
	}}
	runConsumer(t, kafka.Config{Cluster: kafka.Cluster{Brokers: brokers}, Topic: topic, MaxEventBytes: 1 << 10, MaxWait: 50 * time.Millisecond}, proc, prometheus.NewRegistry())
	proc.awaitHandled(t, "evt-acme-3")
	proc.mu.Lock()
	handled, tries := proc.handled, proc.tries
	proc.mu.Unlock()
	if fmt.Sprint(handled) != "[evt-acme-0 evt-acme-3]" || tries["evt-acme-1"] != 1 || tries["evt-acme-3"] != 2 {
		t.Errorf("handled %v after tries %v; want evt-acme-0 and evt-acme-3, the permanent failure tried once, the transient one twice", handled, tries)
	}

	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: kafka.DLQTopic(topic), Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	got := map[string]kafkago.Message{}
	for len(got) < 2 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading dead letters (have %d): %v", len(got), err)
		}
		for _, h := range m.Headers {
			if h.Key == kafka.HeaderOffset {
				got[string(h.Value)] = m
			}
		}
	}
	header := func(m kafkago.Message, key string) string {
		for _, h := range m.Headers {
			if h.Key == key {
				return string(h.Value)
			}
		}
		return ""
	}
	failed := got["1"]
	if header(failed, kafka.HeaderReason) != schema.ReasonProcessingFailed || !strings.Contains(header(failed, kafka.HeaderError), "SQLSTATE 22P05") ||
		string(failed.Value) != string(testEvent("acme", 1)) || header(failed, kafka.HeaderTruncated) != "" {
		t.Errorf("dead letter of the permanent failure: %q headers %v", failed.Value, failed.Headers)
	}
	// 5 KB is too large an event, and its copy too large for the
	// dead-letter topic's 1000 bytes: cut to the 1 KiB event limit (still
	// refused), then to half of that.
	cut := got["2"]
	if header(cut, kafka.HeaderReason) != schema.ReasonTooLarge || header(cut, kafka.HeaderTruncated) != strconv.Itoa(len(large)) ||
		len(cut.Value) != 512 || string(cut.Value) != string(large[:512]) {
		t.Errorf("dead letter of the large message: %d bytes, headers %v; want its first 512 bytes and %s %d", len(cut.Value), cut.Headers, kafka.HeaderTruncated, len(large))
	}
}

func TestConsumerReportsAStalledPartition(t *testing.T) {
	const topic = "events"
	brokers := startPoisonBroker(t, topic, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := kafka.NewProducer(kafka.Cluster{Brokers: brokers}, topic)
	defer p.Close()
	for i := range 3 {
		if err := p.Produce(ctx, kafka.Message{Key: []byte("acme"), Value: testEvent("acme", i)}); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	proc := &faultyProcessor{tries: map[string]int{}, changed: make(chan struct{}, 1), fail: func(id string, attempt int) error {
		if id != "evt-acme-2" {
			return nil
		}
		select {
		case <-release:
			return nil
		default:
			return errors.New("connection refused")
		}
	}}
	reg := prometheus.NewRegistry()
	c := runConsumer(t, kafka.Config{Cluster: kafka.Cluster{Brokers: brokers}, Topic: topic, MaxWait: 50 * time.Millisecond, StallThreshold: 200 * time.Millisecond}, proc, reg)
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					return m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}

	deadline := time.Now().Add(30 * time.Second)
	var stalls []kafka.Stall
	for stalls = c.Stalled(); len(stalls) == 0; stalls = c.Stalled() {
		if time.Now().After(deadline) {
			t.Fatal("no stall reported within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := stalls[0]; len(stalls) != 1 || st.Partition != 0 || st.Offset != 2 || st.For < 200*time.Millisecond || st.Err != "connection refused" {
		t.Errorf("stalls %+v, want partition 0 at offset 2 for at least 200ms, failing with connection refused", stalls)
	}
	if s := gauge("dowser_partition_stalled_seconds"); s < 0.2 {
		t.Errorf("dowser_partition_stalled_seconds = %v, want at least 0.2", s)
	}
	if lag := gauge("dowser_consumer_lag"); lag != 1 {
		t.Errorf("dowser_consumer_lag = %v while retrying the last message, want 1", lag)
	}
	close(release)
	proc.awaitHandled(t, "evt-acme-2")
	for c.Stalled() != nil || gauge("dowser_consumer_lag") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still stalled %v, lag %v", c.Stalled(), gauge("dowser_consumer_lag"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := gauge("dowser_partition_stalled_seconds"); s > 0.1 {
		t.Errorf("dowser_partition_stalled_seconds = %v after the partition moved on, want about 0", s)
	}
}
