package journey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// Store is where the journey goes: *postgres.Journey.
type Store interface {
	// WriteJourney writes a batch of rows, each in an existing partition,
	// and returns how many it wrote.
	WriteJourney(ctx context.Context, items []dowser.JourneyItem) (int, error)
	// MaintainJourney creates the partitions from days before now's day
	// to AheadDays days after it and drops older ones.
	MaintainJourney(ctx context.Context, now time.Time, days int) (created, dropped int, err error)
}

// Config configures a Writer. Store, Days, Logger and Registerer must be
// set; the rest have defaults.
type Config struct {
	Store Store
	// Days is how long rows are kept (--journey-days), at least 1.
	Days int
	// Buffer is how many rows may wait to be written; beyond it rows
	// are dropped. 0 means DefaultBuffer.
	Buffer int
	// Batch is the most rows one write carries. 0 means DefaultBatch.
	Batch int
	// FlushEvery is how long a row waits at most for its batch to fill.
	// 0 means DefaultFlushEvery.
	FlushEvery time.Duration
	// Writers is how many batches are written at once. 0 means
	// DefaultWriters.
	Writers int
	// Duty is the share (0 < Duty ≤ 1) of their wall time the writers
	// together spend writing: after each batch a writer pauses for the
	// rest. 0 means DefaultDuty.
	Duty float64
	// MaintainEvery is how often partitions are created and dropped. 0
	// means an hour.
	MaintainEvery time.Duration
	// Now is the clock of partitions and of the retention window; nil is
	// time.Now.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Defaults of Config.
const (
	DefaultBuffer = 1 << 17
	// DefaultBatch keeps one write to tens of milliseconds of the
	// server's time, so a batch does not hold a core the events need for
	// longer than an alert may take.
	DefaultBatch      = 4096
	DefaultFlushEvery = 200 * time.Millisecond
	DefaultWriters    = 1
	// DefaultDuty is the writers' share of the time. One row costs
	// PostgreSQL about 5 µs, so at 0.25 the journey keeps about 50,000
	// events a second: steady traffic loses none, while a catch-up at
	// 100,000 events a second on 2 cores leaves the detector its cores
	// and drops (and counts) the journey rows beyond the share.
	DefaultDuty = 0.25
	// AheadDays is how far ahead of today an event may be dated and
	// still be kept: the partitions MaintainJourney makes ahead.
	AheadDays = 2
)

// Reasons rows are dropped, the reason label of
// dowser_journey_dropped_total.
const (
	// DropBufferFull: the events outran the writers' share (Duty) or
	// PostgreSQL.
	DropBufferFull  = "buffer_full"
	DropWriteFailed = "write_failed"
	DropOutOfWindow = "out_of_window"
)

// Writer hands accepted events' journey rows to storage in batches. Its
// Record is safe for concurrent use and never blocks.
type Writer struct {
	cfg     Config
	rows    chan dowser.JourneyItem
	written prometheus.Counter
	dropped *prometheus.CounterVec
	full    prometheus.Counter
	paused  prometheus.Counter
	took    prometheus.Histogram
	// fullSince counts rows dropped for a full buffer since the last log
	// line about it: Record only counts, Run logs.
	fullSince atomic.Int64
	// window is the [from, to) of event times kept, in Unix nanoseconds,
	// moved on by Run.
	from, to atomic.Int64
}

// New returns a Writer and registers its metrics; Run writes.
func New(cfg Config) (*Writer, error) {
	if cfg.Store == nil || cfg.Logger == nil || cfg.Registerer == nil {
		return nil, errors.New("journey: Store, Logger and Registerer must be set")
	}
	if cfg.Days < 1 {
		return nil, fmt.Errorf("journey: Days %d must be at least 1", cfg.Days)
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.Writers <= 0 {
		cfg.Writers = DefaultWriters
	}
	if cfg.Duty == 0 {
		cfg.Duty = DefaultDuty
	}
	if !(cfg.Duty > 0 && cfg.Duty <= 1) {
		return nil, fmt.Errorf("journey: Duty %v must be above 0 and at most 1", cfg.Duty)
	}
	if cfg.MaintainEvery <= 0 {
		cfg.MaintainEvery = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Writer{cfg: cfg, rows: make(chan dowser.JourneyItem, cfg.Buffer),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_journey_written_total",
			Help: "Journey rows written to PostgreSQL.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_journey_dropped_total",
			Help: "Journey rows dropped, by reason: buffer_full (the events outran the writer's share of time, --journey-duty, or PostgreSQL), write_failed, out_of_window (dated outside the kept days). Alerts are not affected.",
		}, []string{"reason"}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dowser_journey_write_seconds",
			Help:    "Time a journey batch took to write, the server's wait for a connection included; the writer pauses for three times that at the default --journey-duty.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms to 33 s
		}),
		paused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_journey_paused_seconds_total",
			Help: "Time the journey writers paused to stay within --journey-duty.",
		}),
	}
	w.full = w.dropped.WithLabelValues(DropBufferFull)
	w.setWindow(cfg.Now())
	buffered := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dowser_journey_buffered",
		Help: "Journey rows waiting to be written.",
	}, func() float64 { return float64(len(w.rows)) })
	cfg.Registerer.MustRegister(w.written, w.dropped, w.paused, w.took, buffered)
	return w, nil
}

// setWindow keeps the event times that have a partition at now.
func (w *Writer) setWindow(now time.Time) {
	w.setFrom(now)
	w.setTo(now)
}

// setFrom moves the start of the window to the first day kept at now:
// before that day's older partitions are dropped.
func (w *Writer) setFrom(now time.Time) {
	w.from.Store(now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -w.cfg.Days).UnixNano())
}

// setTo moves the end of the window past the last day ahead at now: once
// its partition exists.
func (w *Writer) setTo(now time.Time) {
	w.to.Store(now.UTC().Truncate(24*time.Hour).AddDate(0, 0, AheadDays+1).UnixNano())
}

// inWindow reports whether t has a partition.
func (w *Writer) inWindow(t time.Time) bool {
	n := t.UnixNano()
	return n >= w.from.Load() && n < w.to.Load()
}

// Record queues the journey row of an accepted event, or drops it
// (counted) when the buffer is full or its time is outside the kept days.
// It never blocks.
func (w *Writer) Record(ev *schema.Event) {
	if !w.inWindow(ev.Time) {
		w.dropped.WithLabelValues(DropOutOfWindow).Inc()
		return
	}
	select {
	case w.rows <- dowser.JourneyItemOf(ev):
	default:
		w.full.Inc()
		w.fullSince.Add(1)
	}
}

// Run maintains the partitions and writes batches until ctx ends; then it
// writes what is buffered, for a few seconds at most. A failed write drops
// its batch (logged and counted): the journey is a convenience view, and
// a batch retried would hold up every later one.
func (w *Writer) Run(ctx context.Context) error {
	ok := w.maintain(ctx)
	var wg sync.WaitGroup
	for range w.cfg.Writers {
		wg.Go(func() { w.write(ctx) })
	}
	tick := time.NewTicker(w.maintainAfter(ok))
	defer tick.Stop()
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			tick.Reset(w.maintainAfter(w.maintain(ctx)))
		case <-report.C:
			if n := w.fullSince.Swap(0); n > 0 {
				w.cfg.Logger.Warn("journey rows dropped: the events outrun the journey writer's share of time (--journey-duty) or PostgreSQL; alerts are not affected",
					"rows", n, "buffer", w.cfg.Buffer, "duty", w.cfg.Duty)
			}
		}
	}
}

// maintainAfter is how long to wait for the next maintenance: a failed
// one is tried again within a minute, as rows wait for their partitions.
func (w *Writer) maintainAfter(ok bool) time.Duration {
	if ok {
		return w.cfg.MaintainEvery
	}
	return min(time.Minute, w.cfg.MaintainEvery)
}

// maintain moves the kept window on and keeps the partitions; it reports
// whether that succeeded.
func (w *Writer) maintain(ctx context.Context) bool {
	now := w.cfg.Now()
	// Rows of the days about to be dropped are not written any more (a
	// batch with one of them would fail whole).
	w.setFrom(now)
	created, dropped, err := w.cfg.Store.MaintainJourney(ctx, now, w.cfg.Days)
	if err != nil {
		if ctx.Err() == nil {
			w.cfg.Logger.Error("journey partitions not maintained; trying again within a minute", "err", err)
		}
		return false
	}
	w.setTo(now)
	if created > 0 || dropped > 0 {
		w.cfg.Logger.Info("journey partitions maintained", "created", created, "dropped", dropped, "days", w.cfg.Days)
	}
	return true
}

// write collects batches from the buffer and writes them, until ctx ends
// and the buffer is drained.
func (w *Writer) write(ctx context.Context) {
	batch := make([]dowser.JourneyItem, 0, w.cfg.Batch)
	timer := time.NewTimer(w.cfg.FlushEvery)
	defer timer.Stop()
	for {
		select {
		case it := <-w.rows:
			batch = append(batch, it)
			if len(batch) < w.cfg.Batch {
				continue
			}
		case <-timer.C:
			timer.Reset(w.cfg.FlushEvery)
		case <-ctx.Done():
			w.drain(batch)
			return
		}
		if len(batch) > 0 {
			start := time.Now()
			w.flush(ctx, batch)
			batch = batch[:0]
			busy := time.Since(start)
			w.took.Observe(busy.Seconds())
			if !w.pause(ctx, busy) {
				w.drain(batch)
				return
			}
		}
	}
}

// pause keeps a writer busy at most its share of the duty after a write
// that took busy; it reports false when ctx ended first. Rows arriving
// meanwhile wait in the buffer, and beyond it are dropped: on a small
// machine a catch-up would otherwise spend on the journey the cores the
// events need.
func (w *Writer) pause(ctx context.Context, busy time.Duration) bool {
	share := w.cfg.Duty / float64(w.cfg.Writers)
	if share >= 1 {
		return ctx.Err() == nil
	}
	d := time.Duration(float64(busy) * (1/share - 1))
	t := time.NewTimer(d)
	defer t.Stop()
	start := time.Now()
	select {
	case <-ctx.Done():
		w.paused.Add(time.Since(start).Seconds())
		return false
	case <-t.C:
		w.paused.Add(time.Since(start).Seconds())
		return true
	}
}

// drain writes what is left in the buffer when the writer stops.
func (w *Writer) drain(batch []dowser.JourneyItem) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case it := <-w.rows:
			batch = append(batch, it)
			if len(batch) < w.cfg.Batch {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		w.flush(ctx, batch)
		batch = batch[:0]
	}
}

func (w *Writer) flush(ctx context.Context, batch []dowser.JourneyItem) {
	// Rows buffered before the window moved on have no partition now.
	kept := batch[:0]
	for _, it := range batch {
		if w.inWindow(it.Time) {
			kept = append(kept, it)
		}
	}
	if out := len(batch) - len(kept); out > 0 {
		w.dropped.WithLabelValues(DropOutOfWindow).Add(float64(out))
	}
	if batch = kept; len(batch) == 0 {
		return
	}
	n, err := w.cfg.Store.WriteJourney(ctx, batch)
	w.written.Add(float64(n))
	if err != nil {
		w.dropped.WithLabelValues(DropWriteFailed).Add(float64(len(batch)))
		if ctx.Err() == nil {
			w.cfg.Logger.Error("journey rows dropped: writing them failed", "rows", len(batch), "err", err)
		}
	}
}
