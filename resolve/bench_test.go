package resolve_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/resolve"
	"github.com/dowserhq/dowser/schema"
)

// discard acknowledges every message at once: the benchmark measures the
// stage and its PostgreSQL work, not the broker.
type discard struct{}

func (discard) Produce(context.Context, ...kafka.Message) error { return nil }

// BenchmarkHandle is the stage's cost per event on one partition, by kind
// of event: a customer's (no PostgreSQL), an anonymous visitor's not
// linked (remembered), a linked visitor's (resolved), and a visitor's
// first login after one anonymous view (both events).
func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	r, err := resolve.New(resolve.Config{
		Store: s.Identities, Out: discard{},
		Horizon: func() time.Duration { return time.Hour },
		Logger:  slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Identities.LinkAnonymous(ctx, "ajs-linked", "c-1", "acme", "", time.Time{}, func([][]byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, kind := range []struct {
		name           string
		customer, anon string
	}{{"customer", "c-1", ""}, {"anonymous", "", "ajs-"}, {"linked", "", "ajs-linked"}, {"login", "c-", "new-"}} {
		b.Run(kind.name, func(b *testing.B) {
			h, _, _ := r.Partition(ctx, 0)
			ev := schema.Event{Type: "page_view", Properties: map[string]any{"url": "https://example.com/pricing"}}
			i := 0
			for b.Loop() {
				ev.ID, ev.Time = kind.name+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Millisecond)
				ev.Customer = schema.Customer{ID: kind.customer, AnonymousID: kind.anon}
				switch kind.name {
				case "anonymous":
					ev.Customer.AnonymousID += strconv.Itoa(i % 10_000) // ten thousand visitors
				case "login":
					// A visitor's first login, after one anonymous view.
					ev.Customer = schema.Customer{AnonymousID: "new-" + strconv.Itoa(i)}
					if err := h.Handle(ctx, &ev); err != nil {
						b.Fatal(err)
					}
					ev.ID += "-login"
					ev.Customer = schema.Customer{ID: "c-" + strconv.Itoa(i), AnonymousID: "new-" + strconv.Itoa(i), AccountID: "acme"}
				}
				if err := h.Handle(ctx, &ev); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if _, err := h.Checkpoint(ctx, int64(i), true); err != nil {
				b.Fatal(err)
			}
		})
	}
}
