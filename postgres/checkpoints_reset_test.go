package postgres_test

import (
	"context"
	"maps"
	"testing"
)

// TestCheckpointResetReplacesEveryRow: a delta with Reset (a state
// rebuilt rather than restored) leaves only its own rows.
func TestCheckpointResetReplacesEveryRow(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		reset bool
		kv    []string
		want  map[string]string
	}{
		{false, []string{"customer:a", "1", "customer:b", "2"}, map[string]string{"customer:a": "1", "customer:b": "2"}},
		{true, []string{"customer:c", "3"}, map[string]string{"customer:c": "3"}},
		{true, nil, map[string]string{}},
	} {
		delta := delta(1, "m", d.kv...)
		delta.Reset = d.reset
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta); err != nil {
			t.Fatal(err)
		}
		if got := loadRows(t, s, cp.ID); !maps.Equal(got, d.want) {
			t.Fatalf("after a delta with reset %v: rows %v, want %v", d.reset, got, d.want)
		}
	}
}
