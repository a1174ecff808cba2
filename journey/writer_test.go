package journey_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/journey"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

func openStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return s
}

func event(n int, at time.Time) *schema.Event {
	return &schema.Event{ID: fmt.Sprintf("evt-%d", n), Type: schema.TypePageView, Time: at,
		Customer:  schema.Customer{ID: fmt.Sprintf("c-%d", n%50), AccountID: fmt.Sprintf("acct-%d", n%10), Email: "x@example.com"},
		ContentID: "pricing", Properties: map[string]any{"url": "https://example.com/pricing?email=x@example.com#top", "title": "Pricing", "body": "secret"}}
}

// start runs a writer over store until the test ends.
func start(t testing.TB, cfg journey.Config) (*journey.Writer, *prometheus.Registry, func()) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Logger, cfg.Registerer = slog.New(slog.DiscardHandler), reg
	w, err := journey.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	return w, reg, stop
}

func TestWriterWritesSmallRows(t *testing.T) {
	s := openStore(t)
	now := time.Now().UTC()
	// Run's own maintenance may be cut short by the stop below.
	if _, _, err := s.Journey.MaintainJourney(context.Background(), now, 3); err != nil {
		t.Fatal(err)
	}
	w, reg, stop := start(t, journey.Config{Store: s.Journey, Days: 3, FlushEvery: 50 * time.Millisecond})
	for i := range 20 {
		w.Record(event(i, now.Add(-time.Duration(i)*time.Minute)))
	}
	w.Record(event(100, now.AddDate(0, 0, -5))) // older than the days kept
	// Stopping writes what is buffered.
	stop()
	page, err := s.Journey.Timeline(context.Background(), dowser.TimelineQuery{AccountID: "acct-3", Since: now.AddDate(0, 0, -3), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 {
		t.Fatalf("acct-3 has %d items, want 2 (events 3 and 13)", len(page.Items))
	}
	it := page.Items[0]
	if it.EventID != "evt-3" || it.CustomerID != "c-3" || it.URLPath != "/pricing" || it.Title != "Pricing" {
		t.Errorf("row = %+v; want evt-3 of c-3 with the URL's path only and the title", it)
	}
	if got := counter(t, reg, "dowser_journey_dropped_total", journey.DropOutOfWindow); got != 1 {
		t.Errorf("dropped out of window = %v, want 1", got)
	}
}

// slowStore holds every write until released: PostgreSQL falling behind.
type slowStore struct {
	journey.Store
	release chan struct{}
	writing chan struct{} // gets a value as each write starts
}

func (s *slowStore) WriteJourney(ctx context.Context, items []dowser.JourneyItem) (int, error) {
	s.writing <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.Store.WriteJourney(ctx, items)
}

func TestWriterDropsWhenBehindWithoutBlocking(t *testing.T) {
	s := openStore(t)
	slow := &slowStore{Store: s.Journey, release: make(chan struct{}), writing: make(chan struct{}, 100)}
	w, reg, stop := start(t, journey.Config{Store: slow, Days: 3, Buffer: 10, Batch: 5, Writers: 1, FlushEvery: time.Hour})
	defer stop()
	now := time.Now().UTC()
	// The writer takes a full batch and waits in the store; then the
	// buffer fills, and Record keeps returning.
	for i := range 5 {
		w.Record(event(i, now))
	}
	<-slow.writing
	done := make(chan struct{})
	go func() {
		for i := 5; i < 1005; i++ {
			w.Record(event(i, now))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Record blocked while the store was behind")
	}
	if got := counter(t, reg, "dowser_journey_dropped_total", journey.DropBufferFull); got != 990 {
		t.Errorf("dropped for a full buffer = %v, want 990 (1000 recorded, 10 buffered)", got)
	}
	close(slow.release)
}

// timedStore takes at least busy for each write and records when each
// began and ended.
type timedStore struct {
	journey.Store
	busy         time.Duration
	mu           sync.Mutex
	starts, ends []time.Time
	rows         int
	done         chan struct{} // closed once want rows are written
	want         int
}

func (s *timedStore) WriteJourney(ctx context.Context, items []dowser.JourneyItem) (int, error) {
	start := time.Now()
	n, err := s.Store.WriteJourney(ctx, items)
	time.Sleep(s.busy - time.Since(start)) // a slower server
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts, s.ends = append(s.starts, start), append(s.ends, time.Now())
	if s.rows += n; s.rows == s.want {
		close(s.done)
	}
	return n, err
}

func TestWriterPausesToStayWithinItsDuty(t *testing.T) {
	s := openStore(t)
	const rows, batch = 60, 10
	timed := &timedStore{Store: s.Journey, busy: 20 * time.Millisecond, done: make(chan struct{}), want: rows}
	w, reg, stop := start(t, journey.Config{Store: timed, Days: 3, Batch: batch, Writers: 1, Duty: 0.25, FlushEvery: time.Millisecond})
	defer stop()
	now := time.Now().UTC()
	for i := range rows {
		w.Record(event(i, now))
	}
	select {
	case <-timed.done:
	case <-time.After(time.Minute):
		t.Fatal("the rows were not written within a minute")
	}
	timed.mu.Lock()
	defer timed.mu.Unlock()
	// At a quarter of its time, a writer rests three times as long as
	// each write took before the next one.
	for i := 1; i < len(timed.starts); i++ {
		took := timed.ends[i-1].Sub(timed.starts[i-1])
		if rest := timed.starts[i].Sub(timed.ends[i-1]); rest < 3*took {
			t.Errorf("write %d began %v after write %d, which took %v: want at least %v", i, rest, i-1, took, 3*took)
		}
	}
	if len(timed.starts) < rows/batch {
		t.Errorf("%d writes, want at least %d", len(timed.starts), rows/batch)
	}
	if got := single(t, reg, "dowser_journey_paused_seconds_total"); got < 0.06*float64(len(timed.starts)-1) {
		t.Errorf("paused %v s over %d writes of 20 ms, want at least 60 ms for each but the last", got, len(timed.starts))
	}
}

// single is the value of the counter name, which has no labels.
func single(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

// counter is the value of the counter name{reason=reason}.
func counter(t testing.TB, reg *prometheus.Registry, name, reason string) float64 {
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
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{reason=%q}", name, reason)
	return 0
}

// BenchmarkWriter measures the rows per second the writer gets into
// PostgreSQL from Record, with the default batches and writers.
// BenchmarkWriter measures the rows a second one writer keeps, at its
// default share of the time and unpaced.
func BenchmarkWriter(b *testing.B) {
	for _, duty := range []float64{journey.DefaultDuty, 1} {
		b.Run(fmt.Sprintf("duty=%v", duty), func(b *testing.B) { benchWriter(b, duty) })
	}
}

// countingStore closes done once want rows are written.
type countingStore struct {
	journey.Store
	rows atomic.Int64
	want int64
	done chan struct{}
}

func (s *countingStore) WriteJourney(ctx context.Context, items []dowser.JourneyItem) (int, error) {
	n, err := s.Store.WriteJourney(ctx, items)
	if v := s.rows.Add(int64(n)); v >= s.want && v-int64(n) < s.want {
		close(s.done)
	}
	return n, err
}

func benchWriter(b *testing.B, duty float64) {
	s := openStore(b)
	counting := &countingStore{Store: s.Journey, want: int64(b.N), done: make(chan struct{})}
	w, err := journey.New(journey.Config{Store: counting, Days: 1, Duty: duty, Buffer: b.N + 1,
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	events := make([]*schema.Event, 1<<16)
	for i := range events {
		events[i] = event(i, now.Add(-time.Duration(i%3600)*time.Second))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	for i := 0; i < b.N; i++ {
		w.Record(events[i%len(events)])
	}
	b.ResetTimer()
	go func() { done <- w.Run(ctx) }()
	<-counting.done
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRecord measures what the journey costs a partition's goroutine
// per event: the small row and a send to the buffer, queued (a buffer that
// never fills) or dropped (a full one).
func BenchmarkRecord(b *testing.B) {
	for _, full := range []bool{false, true} {
		name := "queued"
		if full {
			name = "dropped"
		}
		b.Run(name, func(b *testing.B) {
			buffer := b.N + 1
			if full {
				buffer = 1
			}
			w, err := journey.New(journey.Config{Store: nopStore{}, Days: 1, Buffer: buffer, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry()})
			if err != nil {
				b.Fatal(err)
			}
			ev := event(1, time.Now())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Record(ev)
			}
		})
	}
}

// nopStore is a store Run is never started with.
type nopStore struct{}

func (nopStore) WriteJourney(context.Context, []dowser.JourneyItem) (int, error) { return 0, nil }
func (nopStore) MaintainJourney(context.Context, time.Time, int) (int, int, error) {
	return 0, 0, nil
}

// A row buffered while its day was kept, written after the window moved
// past it, is left out alone: its batch is written without it.
func TestWriterLeavesOutRowsWhoseDayWentWhileBuffered(t *testing.T) {
	s := openStore(t)
	t0 := time.Now().UTC()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	reg := prometheus.NewRegistry()
	w, err := journey.New(journey.Config{Store: s.Journey, Days: 3, FlushEvery: 50 * time.Millisecond,
		Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	w.Record(event(1, t0.AddDate(0, 0, -2))) // kept at t0, not two days on
	w.Record(event(2, t0))
	clock.Store(t0.AddDate(0, 0, 2).UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Run maintains first, then writes what is buffered.
	for deadline := time.Now().Add(30 * time.Second); written(reg) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("nothing written within 30 s")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	page, err := s.Journey.Timeline(context.Background(), dowser.TimelineQuery{AccountID: "acct-2", Since: t0.AddDate(0, 0, -10), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].EventID != "evt-2" {
		t.Errorf("written: %+v, want evt-2 alone", page.Items)
	}
	if got := counter(t, reg, "dowser_journey_dropped_total", journey.DropOutOfWindow); got != 1 {
		t.Errorf("dropped out of window = %v, want 1 (evt-1)", got)
	}
}

// written is dowser_journey_written_total.
func written(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "dowser_journey_written_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
