package kafka_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
)

// A topic of Segment messages is read with its mapping; a message whose
// headers name another format (dowser-format, or a binary CloudEvent) is
// read in that one; a message that cannot be mapped goes to the
// dead-letter topic with a reason and an error naming its field.
func TestConsumerReadsTheSourceFormat(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "segment"
	if err := kafka.EnsureTopics(ctx, kafka.Cluster{Brokers: b.Brokers()}, 1, 1, topic, kafka.DLQTopic(topic)); err != nil {
		t.Fatal(err)
	}
	hdr := func(kv ...string) []kafka.Header {
		var out []kafka.Header
		for i := 0; i < len(kv); i += 2 {
			out = append(out, kafka.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	ce := func(id string) []kafka.Header {
		h := hdr("ce_specversion", "1.0", "ce_type", "com.example.trial.started", "ce_source", "/billing",
			"ce_time", "2026-11-23T07:03:00Z", "content-type", "application/json")
		if id != "" {
			h = append(h, hdr("ce_id", id)...)
		}
		return h
	}
	msgs := []kafka.Message{
		{Value: []byte(`{"type":"track","event":"Demo Requested","messageId":"seg-1","timestamp":"2026-11-23T07:00:00Z","userId":"u-1","properties":{"company":"acme"}}`)},
		{Value: []byte(`{"type":"track","event":"Demo Requested","messageId":"seg-2","timestamp":"2026-11-23T07:00:00Z"}`)},
		{Value: []byte(`{"id":"env-1","type":"page_view","time":"2026-11-23T07:01:00Z","customer":{"id":"u-2","account_id":"acme"}}`), Headers: hdr(kafka.HeaderFormat, "dowser")},
		{Value: []byte(`{"event_id":"sp-1","event":"page_view","event_name":"page_view","collector_tstamp":"2026-11-23 07:02:00.000","domain_userid":"d-1","page_url":"https://example.com/pricing"}`), Headers: hdr(kafka.HeaderFormat, "snowplow")},
		{Value: []byte(`{"user_id":"u-3","account_id":"globex"}`), Headers: ce("ce-1")},
		{Value: []byte(`{}`), Headers: hdr(kafka.HeaderFormat, "csv")},
		{Value: []byte(`{"user_id":"u-3"}`), Headers: ce("")},
	}
	p := kafka.NewProducer(kafka.Cluster{Brokers: b.Brokers()}, topic)
	defer p.Close()
	for _, m := range msgs {
		m.Key = []byte("k")
		if err := p.Produce(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	src, err := formats.NewSource(formats.SourceConfig{Topic: topic, Format: formats.Segment, Fields: map[string]string{"account_id": "properties.company"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	c, err := kafka.NewConsumer(kafka.Config{
		Cluster: kafka.Cluster{Brokers: b.Brokers()}, Topic: topic, Source: src,
		CheckpointInterval: 300 * time.Millisecond, MaxWait: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
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

	type handled struct{ id, typ, customer, anonymous, account, url, source string }
	want := []handled{
		{id: "seg-1", typ: "demo_requested", customer: "u-1", account: "acme", source: "segment"},
		{id: "env-1", typ: "page_view", customer: "u-2", account: "acme"},
		{id: "sp-1", typ: "page_view", anonymous: "d-1", url: "https://example.com/pricing", source: "snowplow"},
		{id: "ce-1", typ: "com.example.trial.started", customer: "u-3", account: "globex", source: "/billing"},
	}
	rec.wait(t, "events", func(r *recorder) bool { return len(r.events[0]) >= len(want) })
	rec.mu.Lock()
	evs := rec.events[0]
	rec.mu.Unlock()
	if len(evs) != len(want) {
		t.Fatalf("handled %d events, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		got := handled{ev.ID, ev.Type, ev.Customer.ID, ev.Customer.AnonymousID, ev.Customer.AccountID, ev.Prop("url"), ev.Source}
		if got != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got, want[i])
		}
	}

	wantDead := map[string][2]string{
		"1": {"missing_field", "segment: userId or anonymousId is required"},
		"5": {"bad_field", `bad_field: dowser-format: unknown format "csv": not dowser, segment, snowplow or cloudevents`},
		"6": {"missing_field", "cloudevents: ce_id header is required"},
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.Brokers(), Topic: kafka.DLQTopic(topic), Partition: 0, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	for range wantDead {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for _, hd := range msg.Headers {
			h[hd.Key] = string(hd.Value)
		}
		w, ok := wantDead[h[kafka.HeaderOffset]]
		if !ok || h[kafka.HeaderReason] != w[0] || h[kafka.HeaderError] != w[1] {
			t.Errorf("dead letter at offset %s: reason %q, error %q; want %q", h[kafka.HeaderOffset], h[kafka.HeaderReason], h[kafka.HeaderError], w)
		}
	}
}

// A source naming another topic than the events topic is refused: one
// source topic is read.
func TestConsumerRefusesAnotherSourceTopic(t *testing.T) {
	src, _ := formats.NewSource(formats.SourceConfig{Topic: "web", Format: formats.Segment})
	_, err := kafka.NewConsumer(kafka.Config{Cluster: kafka.Cluster{Brokers: []string{"127.0.0.1:1"}}, Topic: "events", Source: src}, newRecorder(), kafka.NewMetrics(prometheus.NewRegistry()))
	if err == nil {
		t.Fatal("NewConsumer accepted a source of another topic")
	}
}
