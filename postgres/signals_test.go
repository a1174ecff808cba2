package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dowserhq/dowser"
)

// TestEnabledSignalsLimitHoldsUnderConcurrency: saves and enables racing
// each other never enable more signals than the limit, and the refused
// ones fail with a *SignalLimitError and change nothing.
func TestEnabledSignalsLimitHoldsUnderConcurrency(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const limit = 5
	s.Signals.LimitEnabledSignals(limit)
	for i := range 10 {
		id := fmt.Sprintf("off-%d", i)
		if _, err := s.Signals.SaveSignal(ctx, id, []byte(`{"id":"`+id+`"}`), "id: "+id, "jane", false); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := range 20 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				id := fmt.Sprintf("new-%d", i)
				_, err = s.Signals.SaveSignal(ctx, id, []byte(`{"id":"`+id+`"}`), "id: "+id, "jane", true)
			} else {
				err = s.Signals.SetSignalEnabled(ctx, fmt.Sprintf("off-%d", i/2), true, "jane")
			}
			var le *dowser.SignalLimitError
			switch {
			case errors.As(err, &le):
				if le.Limit != limit {
					t.Errorf("limit error names %d, want %d", le.Limit, limit)
				}
				mu.Lock()
				refused++
				mu.Unlock()
			case err != nil:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	sigs, err := s.Signals.ListSignals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	enabled := 0
	for _, sig := range sigs {
		if sig.Enabled {
			enabled++
		}
	}
	if enabled != limit || refused != 20-limit {
		t.Errorf("%d enabled and %d refused, want %d and %d", enabled, refused, limit, 20-limit)
	}
	// Saving an enabled signal again takes no new slot.
	for _, sig := range sigs {
		if sig.Enabled {
			if _, err := s.Signals.SaveSignal(ctx, sig.ID, sig.Document, sig.Source, "omar", true); err != nil {
				t.Errorf("saving enabled %s again: %v", sig.ID, err)
			}
			break
		}
	}
}
