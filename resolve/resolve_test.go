package resolve_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/resolve"
	"github.com/dowserhq/dowser/schema"
)

// topic records what the stage produced, and fails while down is set.
type topic struct {
	mu   sync.Mutex
	msgs []kafka.Message
	down error
}

func (p *topic) Produce(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down != nil {
		return p.down
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *topic) fail(err error) {
	p.mu.Lock()
	p.down = err
	p.mu.Unlock()
}

// got lists the produced messages as "key event-id customer account".
func (p *topic) got(t *testing.T) []string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, m := range p.msgs {
		var ev schema.Event
		if err := json.Unmarshal(m.Value, &ev); err != nil {
			t.Fatalf("produced value %q: %v", m.Value, err)
		}
		out = append(out, string(m.Key)+" "+ev.ID+" "+ev.Customer.ID+" "+ev.Customer.AccountID)
	}
	return out
}

func newStage(t *testing.T, out resolve.Producer, dnt func(kind, id string) bool) (*resolve.Resolver, *postgres.Store) {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := resolve.New(resolve.Config{
		Store: s.Identities, Out: out, DoNotTrack: dnt,
		Horizon:    func() time.Duration { return 48 * time.Hour },
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func event(id string, minute int, customer, anon, account string) *schema.Event {
	return &schema.Event{ID: id, Type: "page_view", Time: t0.Add(time.Duration(minute) * time.Minute),
		Customer: schema.Customer{ID: customer, AnonymousID: anon, AccountID: account}}
}

func handle(t *testing.T, h kafka.PartitionHandler, evs ...*schema.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := h.Handle(context.Background(), ev); err != nil {
			t.Fatalf("Handle(%s): %v", ev.ID, err)
		}
	}
}

func checkpoint(t *testing.T, h kafka.PartitionHandler, next int64) {
	t.Helper()
	if d, err := h.Checkpoint(context.Background(), next, false); err != nil || d != next {
		t.Fatalf("Checkpoint(%d) = %d, %v", next, d, err)
	}
}

func TestLinkReEmitsTheVisitorsHistoryAsTheCustomersInOrderOnce(t *testing.T) {
	ctx := context.Background()
	out := &topic{}
	r, _ := newStage(t, out, nil)
	// The anonymous events in one partition, the login in another (the
	// tracker keyed it by account), as a real tracker would.
	anonPart, _, _ := r.Partition(ctx, 0)
	loginPart, _, _ := r.Partition(ctx, 1)
	handle(t, anonPart,
		event("v1", 0, "", "ajs-1", ""),
		event("v2", 1, "", "ajs-1", ""),
		event("old", -3*24*60, "", "ajs-1", ""), // beyond the horizon of the login
		event("c0", 2, "c-7", "", "acme"),       // a customer, no anonymous id
	)
	checkpoint(t, anonPart, 4)
	handle(t, loginPart, event("login", 3, "c-1", "ajs-1", "acme"))
	handle(t, loginPart, event("login", 3, "c-1", "ajs-1", "acme")) // replayed: passed on again, nothing re-emitted
	handle(t, anonPart, event("v3", 4, "", "ajs-1", ""))            // after the link: the customer's
	checkpoint(t, anonPart, 5)
	checkpoint(t, loginPart, 2)
	want := []string{
		"ajs-1 v1  ", "ajs-1 v2  ", "ajs-1 old  ", "acme c0 c-7 acme",
		"acme v1 c-1 acme", "acme v2 c-1 acme", "acme login c-1 acme",
		"acme login c-1 acme",
		"acme v3 c-1 acme",
	}
	got := out.got(t)
	// The two partitions' last sends may interleave: compare each
	// partition's order.
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("produced\n%q\nwant\n%q", got, want)
	}
	if i, j := slices.Index(got, "acme v2 c-1 acme"), slices.Index(got, "acme login c-1 acme"); i > j {
		t.Errorf("re-emitted history after the linking event: %q", got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestCheckpointWaitsForTheBrokerAndARetryQueuesNothingTwice(t *testing.T) {
	ctx := context.Background()
	out := &topic{}
	r, _ := newStage(t, out, nil)
	h, from, err := r.Partition(ctx, 0)
	if err != nil || from != -1 {
		t.Fatalf("Partition = %d, %v; want the group's offset", from, err)
	}
	down := errors.New("broker down")
	out.fail(down)
	handle(t, h, event("v1", 0, "", "ajs-1", ""))
	if _, err := h.Checkpoint(ctx, 1, false); !errors.Is(err, down) {
		t.Fatalf("Checkpoint with the broker down = %v, want %v", err, down)
	}
	// A link needs its history acknowledged before it is written: it
	// fails, and its retry later re-emits it once.
	login := event("login", 1, "c-1", "ajs-1", "")
	if err := h.Handle(ctx, login); !errors.Is(err, down) {
		t.Fatalf("Handle(login) with the broker down = %v, want %v", err, down)
	}
	out.fail(nil)
	handle(t, h, login)
	checkpoint(t, h, 2)
	want := []string{"ajs-1 v1  ", "c-1 v1 c-1 ", "c-1 login c-1 "}
	if got := out.got(t); !slices.Equal(got, want) {
		t.Errorf("produced %q, want %q", got, want)
	}
}

func TestReLinkAndDoNotTrack(t *testing.T) {
	ctx := context.Background()
	out := &topic{}
	r, _ := newStage(t, out, func(kind, id string) bool { return kind == "customer" && id == "ajs-dnt" })
	h, _, _ := r.Partition(ctx, 0)
	handle(t, h,
		event("d1", 0, "", "ajs-dnt", ""),
		event("d2", 1, "c-9", "ajs-dnt", ""), // not tracked: no link
		event("d3", 2, "", "ajs-dnt", ""),
		event("a1", 3, "c-1", "ajs-1", "acme"),
		event("a2", 4, "c-2", "ajs-1", "globex"), // the device changes hands
		event("a3", 5, "", "ajs-1", ""),
	)
	checkpoint(t, h, 6)
	want := []string{"ajs-dnt d1  ", "c-9 d2 c-9 ", "ajs-dnt d3  ", "acme a1 c-1 acme", "globex a2 c-2 globex", "globex a3 c-2 globex"}
	if got := out.got(t); !slices.Equal(got, want) {
		t.Errorf("produced %q, want %q", got, want)
	}
}

func TestLinkReEmitsTheVisitorsQueuedEventsWithoutRememberingThem(t *testing.T) {
	out := &topic{}
	r, s := newStage(t, out, nil)
	// A partition whose background sender is stopped: everything stays
	// queued until the login takes it.
	stopped, stop := context.WithCancel(context.Background())
	stop()
	h, _, _ := r.Partition(stopped, 0)
	handle(t, h,
		event("c0", 0, "c-7", "", "acme"),
		event("v1", 1, "", "ajs-1", ""),
		event("x1", 2, "", "ajs-2", ""), // another visitor: follows the login
		event("v2", 3, "", "ajs-1", ""),
		event("login", 4, "c-1", "ajs-1", "acme"),
	)
	checkpoint(t, h, 5)
	want := []string{
		"acme c0 c-7 acme", "ajs-1 v1  ", "ajs-1 v2  ", "acme v1 c-1 acme", "acme v2 c-1 acme", "acme login c-1 acme",
		"ajs-2 x1  ",
	}
	if got := out.got(t); !slices.Equal(got, want) {
		t.Errorf("produced\n%q\nwant\n%q", got, want)
	}
	// Re-emitted, not remembered: a later link of ajs-1 finds nothing.
	if _, err := s.Identities.LinkAnonymous(context.Background(), "ajs-1", "c-2", "", "", time.Time{}, func(evs [][]byte) error {
		if len(evs) > 0 {
			t.Errorf("ajs-1 still has %d events remembered", len(evs))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Without a Store the stage only re-keys: several sources' events, an
// anonymous one and a login among them, pass on as they came, keyed by
// subject, each source partition in its order; nothing is re-emitted.
func TestWithoutStoreEventsOfEverySourcePassOnKeyedBySubject(t *testing.T) {
	ctx := context.Background()
	out := &topic{}
	r, err := resolve.New(resolve.Config{Out: out, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	web, _, _ := r.Source("web").Partition(ctx, 0)
	app, _, _ := r.Source("app").Partition(ctx, 0)
	handle(t, web, event("w1", 0, "", "ajs-1", ""), event("w2", 1, "c-7", "ajs-1", "acme"))
	checkpoint(t, web, 2)
	handle(t, app, event("a1", 2, "c-7", "", "acme"), event("a2", 3, "c-8", "", ""))
	checkpoint(t, app, 2)
	want := []string{"ajs-1 w1  ", "acme w2 c-7 acme", "acme a1 c-7 acme", "c-8 a2 c-8 "}
	if got := out.got(t); !slices.Equal(got, want) {
		t.Errorf("produced %q, want %q", got, want)
	}
	runCtx, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.Run(runCtx); err != nil {
		t.Errorf("Run without a Store: %v", err)
	}
	if _, err := resolve.New(resolve.Config{Store: &postgres.Identities{}, Out: out, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()}); err == nil {
		t.Error("a Store without a Horizon was accepted")
	}
}
