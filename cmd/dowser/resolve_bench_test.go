package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// trackerEvents are n events as a web tracker keys them: visitors of
// perVisitor events each (three fifths anonymous pricing or blog views
// keyed by the anonymous id, the login, then views as the customer keyed
// by the account), 500 accounts.
func trackerEvents(n, perVisitor int) []kafkago.Message {
	at := time.Now().Add(-time.Hour)
	out := make([]kafkago.Message, 0, n)
	loginAt := perVisitor * 6 / 10
	for i := range n {
		v, step := i/perVisitor, i%perVisitor
		anon, customer, account := fmt.Sprintf("anon-%d", v), fmt.Sprintf("vc-%d", v), fmt.Sprintf("acct-%d", v%500)
		c := map[string]any{"anonymous_id": anon}
		typ, key := "page_view", anon
		switch {
		case step == loginAt:
			typ, c = "identify", map[string]any{"id": customer, "anonymous_id": anon, "account_id": account}
		case step > loginAt:
			c, key = map[string]any{"id": customer, "account_id": account}, account
		}
		url := "https://example.com/blog"
		if i%3 == 0 {
			url = "https://example.com/pricing"
		}
		b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("e%d", i), "type": typ, "source": "web",
			"time": at.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano), "customer": c,
			"properties": map[string]any{"url": url}})
		out = append(out, kafkago.Message{Key: []byte(key), Value: b})
	}
	return out
}

// BenchmarkEndToEndResolution is the resolution stage's cost: events a
// second from the first produced to the detector's group committing the
// last, through detect alone and through resolve + detect, on the
// embedded broker and PostgreSQL, 6 partitions, the chaos test's signals.
// Run it with -benchtime 1x.
func BenchmarkEndToEndResolution(b *testing.B) {
	const n = 60_000
	for _, run := range []struct {
		name       string
		resolve    bool
		perVisitor int
	}{{"detect", false, 10}, {"resolve+detect/login-1-in-10", true, 10}, {"resolve+detect/login-1-in-50", true, 50}} {
		events := trackerEvents(n, run.perVisitor)
		b.Run(run.name, func(b *testing.B) {
			// One run, however large b.N: events/s is the measure, not
			// ns/op, which includes starting the service.
			b.ReportMetric(runResolutionBench(b, run.resolve, events), "events/s")
		})
	}
}

func runResolutionBench(b *testing.B, resolve bool, events []kafkago.Message) float64 {
	ctx, cancel := context.WithCancel(context.Background())
	app, err := newApp(serveConfig{
		HTTPAddr: "127.0.0.1:0", DatabaseURL: pgtest.URL(b), EmbeddedKafkaAddr: "127.0.0.1:0",
		EventsTopic: "dowser.events", AlertsTopic: "dowser.alerts", GroupID: "dowser", Partitions: 6, Replication: 1,
		MaxEventBytes: 64 << 10, SignalsPoll: 50 * time.Millisecond, CheckpointEvery: 200 * time.Millisecond,
		ResolveIdentities: resolve,
	}, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			b.Errorf("app.Run: %v", err)
		}
	}()
	select {
	case <-app.Ready():
	case err := <-errc:
		b.Fatalf("app stopped before it was ready: %v", err)
	}
	for _, src := range chaosSignals {
		sig, err := detector.ParseSignal([]byte(src))
		if err != nil {
			b.Fatal(err)
		}
		doc, _ := json.Marshal(sig)
		if _, err := app.store.Signals.SaveSignal(ctx, sig.ID, doc, src, "bench", true); err != nil {
			b.Fatal(err)
		}
	}
	for {
		sigs, changed := app.pipe.Signals()
		if len(sigs) == len(chaosSignals) {
			break
		}
		<-changed
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(app.Brokers()...), Topic: "dowser.events", Balancer: &kafkago.Hash{},
		BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	start := time.Now()
	for i := 0; i < len(events); i += 5000 {
		if err := w.WriteMessages(ctx, events[i:min(i+5000, len(events))]...); err != nil {
			b.Fatal(err)
		}
	}
	broker := app.Brokers()[0]
	for {
		var done bool
		var err error
		if resolve {
			if done, err = caughtUp(ctx, broker, "dowser.events", resolveGroup("dowser")); err == nil && done {
				done, err = caughtUp(ctx, broker, kafka.ResolvedTopic("dowser.events"), "dowser")
			}
		} else {
			done, err = caughtUp(ctx, broker, "dowser.events", "dowser")
		}
		if err == nil && done {
			break
		}
		if time.Since(start) > 5*time.Minute {
			b.Fatalf("not caught up after 5 minutes (%v)", err)
		}
		time.Sleep(20 * time.Millisecond) // committed offsets: nothing to await but the broker's answer
	}
	took := time.Since(start)
	return float64(len(events)) / took.Seconds()
}
