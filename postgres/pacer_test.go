package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// The pacer pauses a compaction so that its busy time stays within its
// duty of the time elapsed, and never at full duty.
func TestPacerKeepsCompactionWithinItsDuty(t *testing.T) {
	for _, tc := range []struct {
		duty       float64
		steps      []time.Duration
		wantPaused time.Duration
	}{
		{0.5, []time.Duration{40 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond}, 100 * time.Millisecond},
		{0.25, []time.Duration{30 * time.Millisecond, 30 * time.Millisecond}, 180 * time.Millisecond},
		{1, []time.Duration{time.Second, time.Second}, 0},
		// Pauses under a millisecond add up rather than being slept one by one.
		{0.5, []time.Duration{400 * time.Microsecond, 400 * time.Microsecond, 400 * time.Microsecond}, 1200 * time.Microsecond},
	} {
		clock := time.Unix(1000, 0)
		p := newPacer(tc.duty)
		p.now = func() time.Time { return clock }
		p.start, p.since = clock, clock
		p.sleep = func(_ context.Context, d time.Duration) error {
			clock = clock.Add(d)
			return nil
		}
		for _, s := range tc.steps {
			clock = clock.Add(s)
			if err := p.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if p.paused != tc.wantPaused {
			t.Errorf("duty %v, steps %v: paused %v, want %v", tc.duty, tc.steps, p.paused, tc.wantPaused)
		}
		if elapsed := clock.Sub(p.start); float64(p.busy) > tc.duty*float64(elapsed)+float64(time.Millisecond) {
			t.Errorf("duty %v: busy %v of %v", tc.duty, p.busy, elapsed)
		}
	}
}

func TestPacerStopsWithItsContext(t *testing.T) {
	p := newPacer(0.5)
	p.start = p.start.Add(-time.Hour) // an hour of work: an hour's pause due
	p.since = p.start
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.wait(ctx); err != context.Canceled {
		t.Fatalf("wait: %v, want context.Canceled", err)
	}
}

// Someone waiting for the compaction (dowser.WithHurry) cuts a pause short
// and skips the later ones: pausing would only make the wait longer.
func TestPacerStopsPausingWhenHurried(t *testing.T) {
	p := newPacer(0.5)
	p.start = p.start.Add(-time.Hour) // an hour's pause due
	p.since = p.start
	hurry := make(chan struct{})
	ctx := dowser.WithHurry(context.Background(), hurry)
	done := make(chan error, 1)
	go func() { done <- p.wait(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("wait returned %v before the hurry", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(hurry)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.paused > time.Minute {
		t.Errorf("paused %v counted for a pause cut short", p.paused)
	}
	p.since = p.since.Add(-time.Hour) // another hour of work
	slept := false
	p.sleep = func(context.Context, time.Duration) error { slept = true; return nil }
	if err := p.wait(ctx); err != nil || slept {
		t.Errorf("hurried wait: %v, slept %v; want no pause", err, slept)
	}
}
