package loop

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Loop. Zero values take the defaults named.
type Config struct {
	// Name labels the loop's metrics (loop="...") and its reports:
	// required.
	Name string
	// What words the round in log lines: "sending channel deliveries".
	What string
	// Interval is the wait between rounds: required.
	Interval time.Duration
	// MaxInterval caps the wait after failed rounds in a row, which
	// doubles from Interval: 10 × Interval but at most a minute (never
	// less than Interval).
	MaxInterval time.Duration
	// Batch, when positive, is the size of a full round: a round that
	// handled at least Batch items is followed by another at once, as more
	// may be due.
	Batch      int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock of the reports and the last-success time: time.Now.
	Now func() time.Time
}

// Loop runs one component's rounds and reports how they go: the metrics
// dowser_loop_failures_total, dowser_loop_items_set_aside_total and
// dowser_loop_last_success_timestamp_seconds, each with the label
// loop=Name, log lines, and [Loop.Failing]. Several loops may register
// with one Registerer, under different names.
type Loop struct {
	cfg         Config
	failures    prometheus.Counter
	setAside    prometheus.Counter
	lastSuccess prometheus.Gauge

	mu       sync.Mutex
	inRow    int       // failed rounds in a row, 0 after a success
	since    time.Time // when the first of them failed
	lastErr  error
	nextTry  time.Time
	lastGood time.Time
}

// New returns a loop, its metrics registered with cfg.Registerer (when
// set). The last-success time starts at New's, so that a loop that never
// succeeds is as visible as one that stopped succeeding.
func New(cfg Config) (*Loop, error) {
	if cfg.Name == "" || cfg.Interval <= 0 {
		return nil, fmt.Errorf("loop %q: a name and a positive interval (%v) are required", cfg.Name, cfg.Interval)
	}
	if cfg.What == "" {
		cfg.What = cfg.Name
	}
	if cfg.MaxInterval <= 0 {
		cfg.MaxInterval = min(10*cfg.Interval, time.Minute)
	}
	cfg.MaxInterval = max(cfg.MaxInterval, cfg.Interval)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	name := prometheus.Labels{"loop": cfg.Name}
	l := &Loop{cfg: cfg,
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "dowser_loop_failures_total", ConstLabels: name,
			Help: "Rounds of a background loop that failed (and will be tried again after a backoff), by loop."}),
		setAside: prometheus.NewCounter(prometheus.CounterOpts{Name: "dowser_loop_items_set_aside_total", ConstLabels: name,
			Help: "Items a background loop could never process and set aside, marked with the reason, so that its rounds go on, by loop."}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dowser_loop_last_success_timestamp_seconds", ConstLabels: name,
			Help: "Unix time of a background loop's last successful round (of its start, before the first), by loop."}),
		lastGood: cfg.Now(),
	}
	l.lastSuccess.Set(float64(l.lastGood.UnixNano()) / 1e9)
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{l.failures, l.setAside, l.lastSuccess} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering the metrics of loop %s: %w", cfg.Name, err)
			}
		}
	}
	return l, nil
}

// Run calls round until ctx ends: at once, then Interval after each
// success, at once after a round that filled its batch, and after the
// k-th failed round in a row Interval × 2^(k-1), capped at MaxInterval.
// Each failure is logged with how many rounds in a row failed and when the
// next try is; the first success after failures is logged too. A round
// cut short by ctx ending is neither.
func (l *Loop) Run(ctx context.Context, round func(context.Context) (int, error)) error {
	wait := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(l.cfg.Interval),
		backoff.WithMaxInterval(l.cfg.MaxInterval),
		backoff.WithMultiplier(2),
		// One instance's loop: nothing to spread out, and a predictable
		// next try is what the log line promises.
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxElapsedTime(0),
	)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			t.Reset(l.failed(err, wait.NextBackOff()))
			continue
		}
		wait.Reset()
		l.succeeded()
		if l.cfg.Batch > 0 && n >= l.cfg.Batch {
			t.Reset(0)
		} else {
			t.Reset(l.cfg.Interval)
		}
	}
}

// failed records a failed round and returns next, the wait before the
// next try.
func (l *Loop) failed(err error, next time.Duration) time.Duration {
	now := l.cfg.Now()
	l.failures.Inc()
	l.mu.Lock()
	l.inRow++
	if l.inRow == 1 {
		l.since = now
	}
	l.lastErr, l.nextTry = err, now.Add(next)
	inRow, lastGood := l.inRow, l.lastGood
	l.mu.Unlock()
	l.cfg.Logger.Warn(l.cfg.What+" failed", "loop", l.cfg.Name, "err", err,
		"failed_rounds_in_row", inRow, "next_try_in", next, "next_try_at", now.Add(next), "last_success", lastGood)
	return next
}

// succeeded records a successful round.
func (l *Loop) succeeded() {
	now := l.cfg.Now()
	l.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	l.mu.Lock()
	inRow, since := l.inRow, l.since
	l.inRow, l.lastErr, l.lastGood = 0, nil, now
	l.mu.Unlock()
	if inRow > 0 {
		l.cfg.Logger.Info(l.cfg.What+" works again", "loop", l.cfg.Name, "failed_rounds", inRow, "failing_for", now.Sub(since).Round(time.Millisecond))
	}
}

// SetAside counts and logs an item that a round could never process and
// set aside (marked in its table with reason) to go on with the others:
// kind and id name it ("channel delivery", its id).
func (l *Loop) SetAside(kind, id, reason string) {
	l.setAside.Inc()
	l.cfg.Logger.Error(l.cfg.What+": set aside "+kind+" that cannot be processed", "loop", l.cfg.Name, "item", kind, "id", id, "reason", reason)
}

// Failing words the loop's failed rounds in a row, for /readyz: "escalations: 3
// rounds in a row failed since 2026-12-02T10:56:00Z, next try at
// 10:57:10: <error>"; "" while its latest round succeeded.
func (l *Loop) Failing() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inRow == 0 {
		return ""
	}
	rounds := "1 round"
	if l.inRow > 1 {
		rounds = fmt.Sprintf("%d rounds in a row", l.inRow)
	}
	return fmt.Sprintf("%s: %s failed since %s, next try at %s: %v", l.cfg.Name, rounds,
		l.since.UTC().Format(time.RFC3339), l.nextTry.UTC().Format(time.TimeOnly), l.lastErr)
}
