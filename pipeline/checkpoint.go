package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
)

// checkpointMetrics are the checkpoint series of every partition.
type checkpointMetrics struct {
	duration  prometheus.Histogram
	bytes     prometheus.Counter
	rows      prometheus.Counter
	deferred  prometheus.Counter
	failures  prometheus.Counter
	behind    *prometheus.GaugeVec
	states    *prometheus.GaugeVec
	cold      *prometheus.GaugeVec
	coldBytes *prometheus.GaugeVec
	restore   prometheus.Histogram
}

func newCheckpointMetrics() *checkpointMetrics {
	return &checkpointMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dowser_checkpoint_duration_seconds",
			Help: "Time to write one checkpoint (the state that changed since the last one, with its offset), retries included.",
			// 5 ms to about 11 minutes: a write that falls behind must
			// show how far, not pile up in the last bucket.
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 18),
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_checkpoint_written_bytes_total",
			Help: "Bytes of state (keys, data and headers) written by checkpoints.",
		}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_checkpoint_rows_written_total",
			Help: "State rows written or deleted by checkpoints.",
		}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_checkpoints_deferred_total",
			Help: "Checkpoints put off because the partition's previous one was still being written.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_checkpoint_failures_total",
			Help: "Checkpoint writes that failed and were retried.",
		}),
		behind: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dowser_checkpoint_behind_seconds",
			Help: "Age of the oldest change of a partition's state not yet durable; 0 when everything handled is saved.",
		}, []string{"partition"}),
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dowser_detector_states",
			Help: "Signal-subject states a partition's detector holds decoded, plus the subjects it holds encoded, as of its last checkpoint: what its memory and checkpoints grow with.",
		}, []string{"partition"}),
		cold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dowser_detector_cold_subjects",
			Help: "Subjects a partition's detector holds encoded (untouched for --cold-after), as of its last checkpoint.",
		}, []string{"partition"}),
		coldBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dowser_detector_cold_bytes",
			Help: "Bytes of the subjects a partition's detector holds encoded, as of its last checkpoint.",
		}, []string{"partition"}),
		restore: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dowser_checkpoint_restore_seconds",
			Help:    "Time to read a partition's checkpoint and rebuild its state when the partition is assigned.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 18),
		}),
	}
}

func (m *checkpointMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.duration, m.bytes, m.rows, m.deferred, m.failures, m.behind, m.states, m.cold, m.coldBytes, m.restore}
}

// DeltaStore saves a partition's checkpoints: *postgres.Checkpoints.
type DeltaStore interface {
	SaveCheckpointDelta(ctx context.Context, group, topic string, partition int, owner string, d *dowser.CheckpointDelta) error
}

// writeGrace is how long a write in flight may go on after its partition
// was lost without a final checkpoint.
const writeGrace = 30 * time.Second

// checkpointer writes a partition's checkpoints in the background, one at
// a time and in order: each delta holds what changed since the previous
// one, so the stored rows are the state at the newest stored offset once
// every delta before it is stored too. A failed write is retried with the
// same delta, never skipped, for the same reason.
type checkpointer struct {
	store     DeltaStore
	group     string
	topic     string
	partition int
	owner     string
	log       *slog.Logger
	m         *checkpointMetrics
	behind    prometheus.Gauge
	states    prometheus.Gauge
	cold      prometheus.Gauge
	coldBytes prometheus.Gauge
	interval  time.Duration

	// ctx ends the background writes when the partition is closed; it does
	// not end with the partition's context, so that a revoke waits for the
	// write in flight rather than tearing it.
	ctx    context.Context
	cancel context.CancelFunc
	// hurry is closed when the final checkpoint is asked for: the write
	// in flight is then waited for, and a paced compaction in it stops
	// pausing (see dowser.WithHurry).
	hurry   chan struct{}
	hurried bool

	// reset makes the next delta replace every stored row: the engine
	// did not start from them.
	reset    bool
	durable  int64 // the offset the stored state reflects
	taken    int64 // the offset of the delta in flight, or stored last
	inFlight chan error
	// held is what was taken from the engine while a write was in flight,
	// for the next write.
	held *dowser.CheckpointDelta
	// The oldest change not yet taken, held and in flight: since is the
	// first change after the last take.
	since, heldSince, flightSince time.Time
	warned                        time.Time
}

func newCheckpointer(parent context.Context, store DeltaStore, p *Pipeline, partition int, owner string, durable int64) *checkpointer {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	// A partition lost without its final checkpoint (an event left
	// half-handled) still lets the write in flight finish, for a while.
	c := &checkpointer{
		store: store, group: p.cfg.Group, topic: p.cfg.Topic, partition: partition, owner: owner,
		log: p.log, m: p.cp, behind: p.cp.behind.WithLabelValues(strconv.Itoa(partition)),
		states: p.cp.states.WithLabelValues(strconv.Itoa(partition)), interval: p.cfg.CheckpointInterval,
		cold: p.cp.cold.WithLabelValues(strconv.Itoa(partition)), coldBytes: p.cp.coldBytes.WithLabelValues(strconv.Itoa(partition)),
		durable: durable, taken: durable, hurry: make(chan struct{}), cancel: cancel,
	}
	c.ctx = dowser.WithHurry(ctx, c.hurry)
	context.AfterFunc(parent, func() { time.AfterFunc(writeGrace, c.close) })
	return c
}

// changed notes that the state changed (an event handled, an erasure
// applied); the clock is read only for the first change after a take, not
// for every event.
func (c *checkpointer) changed() {
	if c.since.IsZero() {
		c.since = time.Now()
	}
}

// pending reports whether there is state not yet durable.
func (c *checkpointer) pending() bool {
	return c.inFlight != nil || c.held != nil || !c.since.IsZero()
}

// collect takes the result of the write in flight, waiting for it when
// wait is set (until ctx ends); it reports whether none is in flight any
// more.
func (c *checkpointer) collect(ctx context.Context, wait bool) (bool, error) {
	if c.inFlight == nil {
		return true, nil
	}
	var err error
	if wait {
		select {
		case err = <-c.inFlight:
		case <-ctx.Done():
			return false, fmt.Errorf("partition %d: waiting for the checkpoint being written: %w", c.partition, ctx.Err())
		}
	} else {
		select {
		case err = <-c.inFlight:
		default:
			return false, nil
		}
	}
	c.inFlight = nil
	if err != nil {
		return true, err
	}
	c.durable = c.taken
	c.flightSince = time.Time{}
	return true, nil
}

// save takes what changed in engine since the last take and writes it
// with next and erased: in the background, unless final, when it returns
// once it is durable. With a write still in flight (and not final) the
// changes are taken all the same, so that the partition never encodes
// more than an interval's changes at once, and held for the next write,
// which stores every held take in order (a key's last take wins).
func (c *checkpointer) save(ctx context.Context, engine *detector.Engine, next, erased int64, final bool) (int64, error) {
	if final && !c.hurried {
		c.hurried = true
		close(c.hurry)
	}
	idle, err := c.collect(ctx, final)
	if err != nil {
		return c.durable, err
	}
	now := time.Now()
	c.states.Set(float64(engine.Subjects()))
	cold, coldBytes := engine.ColdSubjects()
	c.cold.Set(float64(cold))
	c.coldBytes.Set(float64(coldBytes))
	taken := c.taken
	if c.held != nil {
		taken = c.held.NextOffset
	}
	if next != taken || !c.since.IsZero() {
		c.take(engine, next, erased, now)
	} else if !final {
		// Nothing changed: subjects that went idle still go cold.
		engine.FreezeIdle()
	}
	if !idle {
		c.m.deferred.Inc()
		c.report(now)
		return c.durable, nil
	}
	if c.held == nil {
		c.report(now)
		return c.durable, nil
	}
	d := c.held
	c.held, c.taken, c.flightSince, c.heldSince = nil, d.NextOffset, c.heldSince, time.Time{}
	done := make(chan error, 1)
	c.inFlight = done
	if final {
		done <- c.write(dowser.WithHurry(ctx, c.hurry), d)
		if _, err := c.collect(ctx, true); err != nil {
			return c.durable, err
		}
		c.report(time.Now())
		return c.durable, nil
	}
	go func() { done <- c.write(c.ctx, d) }()
	c.report(now)
	return c.durable, nil
}

// take adds what changed in engine since the last take to the held delta,
// now at next and erased.
func (c *checkpointer) take(engine *detector.Engine, next, erased int64, now time.Time) {
	if c.held == nil {
		c.held = &dowser.CheckpointDelta{Reset: c.reset}
		c.reset = false
		c.heldSince = c.since
		if c.heldSince.IsZero() {
			c.heldSince = now
		}
	}
	d := c.held
	d.NextOffset, d.ErasureSeq = next, erased
	d.Meta = engine.Changes(func(key string, data []byte) {
		d.Rows = append(d.Rows, dowser.StateRow{Key: key, Data: data})
	})
	c.since = time.Time{}
}

// write stores d, retrying transient failures with capped backoff until
// ctx ends; a fenced partition is not retried.
func (c *checkpointer) write(ctx context.Context, d *dowser.CheckpointDelta) error {
	start := time.Now()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	err := backoff.RetryNotify(func() error {
		err := c.store.SaveCheckpointDelta(ctx, c.group, c.topic, c.partition, c.owner, d)
		if errors.Is(err, dowser.ErrNotOwner) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		c.m.failures.Inc()
		c.log.Warn("checkpoint write failed; retrying the same delta", "partition", c.partition, "offset", d.NextOffset, "rows", len(d.Rows), "err", err, "in", wait)
	})
	if err != nil {
		return fmt.Errorf("partition %d: writing checkpoint at offset %d: %w", c.partition, d.NextOffset, err)
	}
	c.m.duration.Observe(time.Since(start).Seconds())
	c.m.bytes.Add(float64(d.Bytes()))
	c.m.rows.Add(float64(len(d.Rows)))
	return nil
}

// report sets the behind gauge and warns, at most every half minute, when
// the state is more than three intervals from being durable.
func (c *checkpointer) report(now time.Time) {
	var oldest time.Time
	for _, t := range []time.Time{c.flightSince, c.heldSince, c.since} {
		if !t.IsZero() {
			oldest = t
			break
		}
	}
	if oldest.IsZero() {
		c.behind.Set(0)
		return
	}
	behind := now.Sub(oldest)
	c.behind.Set(behind.Seconds())
	if behind > 3*c.interval && now.Sub(c.warned) > 30*time.Second {
		c.warned = now
		c.log.Warn("checkpoints are falling behind: a restart would replay more", "partition", c.partition,
			"behind", behind.Round(time.Millisecond), "durable_offset", c.durable, "interval", c.interval)
	}
}

// close ends background writes and the partition's series.
func (c *checkpointer) close() {
	c.cancel()
	c.m.behind.DeleteLabelValues(strconv.Itoa(c.partition))
	c.m.states.DeleteLabelValues(strconv.Itoa(c.partition))
	c.m.cold.DeleteLabelValues(strconv.Itoa(c.partition))
	c.m.coldBytes.DeleteLabelValues(strconv.Itoa(c.partition))
}
