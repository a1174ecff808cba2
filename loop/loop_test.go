package loop_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/loop"
)

// waits collects the next_try_in of the loop's failure lines.
type waits struct {
	mu  sync.Mutex
	got []time.Duration
	in  []int64
}

func (w *waits) Enabled(context.Context, slog.Level) bool { return true }
func (w *waits) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *waits) WithGroup(string) slog.Handler            { return w }
func (w *waits) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "next_try_in":
			w.got = append(w.got, a.Value.Duration())
		case "failed_rounds_in_row":
			w.in = append(w.in, a.Value.Int64())
		}
		return true
	})
	return nil
}

func TestFailedRoundsBackOffAndSuccessResets(t *testing.T) {
	reg := prometheus.NewRegistry()
	log := &waits{}
	l, err := loop.New(loop.Config{Name: "tests", Interval: time.Millisecond, MaxInterval: 8 * time.Millisecond,
		Logger: slog.New(log), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	before := value(t, reg, "dowser_loop_last_success_timestamp_seconds")
	// Five failures, a success, one failure, then the end.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls int
	var failing string
	err = l.Run(ctx, func(context.Context) (int, error) {
		calls++
		switch {
		case calls <= 5:
			return 0, errors.New("storage down")
		case calls == 6:
			failing = l.Failing()
			return 0, nil
		case calls == 7:
			if f := l.Failing(); f != "" {
				t.Errorf("Failing() after a success = %q, want empty", f)
			}
			return 0, errors.New("again")
		}
		cancel()
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{1, 2, 4, 8, 8, 1}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if got := log.got; !equal(got, want) {
		t.Errorf("waits after failed rounds = %v, want %v", got, want)
	}
	if got, want := log.in, []int64{1, 2, 3, 4, 5, 1}; !equal(got, want) {
		t.Errorf("failed rounds in a row logged = %v, want %v", got, want)
	}
	if !strings.HasPrefix(failing, "tests: 5 rounds in a row failed since ") || !strings.HasSuffix(failing, ": storage down") {
		t.Errorf("Failing() after 5 failures = %q", failing)
	}
	if got := value(t, reg, "dowser_loop_failures_total"); got != 6 {
		t.Errorf("failures = %v, want 6", got)
	}
	if after := value(t, reg, "dowser_loop_last_success_timestamp_seconds"); after <= before {
		t.Errorf("last success %v did not move past the start %v", after, before)
	}
	// The metrics are registered under the loop's label.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		if l := mf.GetMetric()[0].GetLabel(); len(l) != 1 || l[0].GetName() != "loop" || l[0].GetValue() != "tests" {
			t.Errorf("%s has labels %v, want loop=tests", mf.GetName(), l)
		}
		names = append(names, mf.GetName())
	}
	if want := []string{"dowser_loop_failures_total", "dowser_loop_items_set_aside_total", "dowser_loop_last_success_timestamp_seconds"}; !equal(names, want) {
		t.Errorf("metrics = %v, want %v", names, want)
	}
}

func TestLoopsShareARegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"a", "b"} {
		if _, err := loop.New(loop.Config{Name: name, Interval: time.Second, Registerer: reg}); err != nil {
			t.Fatalf("loop %s: %v", name, err)
		}
	}
	if _, err := loop.New(loop.Config{Name: "a", Interval: time.Second, Registerer: reg}); err == nil {
		t.Error("a second loop named a registered")
	}
}

func TestFullRoundRunsAgainAtOnce(t *testing.T) {
	// An interval no test waits for: only full rounds can follow at once.
	l, err := loop.New(loop.Config{Name: "full", Interval: time.Hour, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var calls int
	_ = l.Run(ctx, func(context.Context) (int, error) {
		calls++
		if calls == 3 {
			cancel()
		}
		return 10, nil
	})
	if calls != 3 {
		t.Errorf("rounds = %d, want 3", calls)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// value is the one series of name in reg.
func value(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
