package postgres_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// The footprint counts the checkpoint tables with their TOAST, and the WAL
// position moves with a write.
func TestFootprintCountsCheckpoints(t *testing.T) {
	ctx := context.Background()
	s, _ := openURL(t)
	before, err := s.Footprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before.Database <= 0 || before.WAL <= 0 {
		t.Fatalf("footprint = %+v, want a database size and a WAL position", before)
	}
	if _, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "t", 0, "me"); err != nil {
		t.Fatal(err)
	}
	// Random bytes, so that compression (lz4, where the server has it)
	// cannot shrink them below 4 MB.
	data := make([]byte, 4<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
	d := &dowser.CheckpointDelta{NextOffset: 1, Rows: []dowser.StateRow{{Key: "customer:c-1", Data: data}}}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "t", 0, "me", d); err != nil {
		t.Fatal(err)
	}
	after, err := s.Footprint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if grew := after.Checkpoints - before.Checkpoints; grew < 1<<20 {
		t.Errorf("checkpoint tables grew by %d bytes with a 4 MB state, want at least 1 MB", grew)
	}
	if after.WAL <= before.WAL {
		t.Errorf("WAL position %d after a write, %d before: want it to move", after.WAL, before.WAL)
	}
}

// AlertsStored gives each account's first stored alert's time, and
// nothing for an account without alerts.
func TestAlertsStoredByAccount(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	before := time.Now().Add(-time.Second)
	first := alert("al-first")
	if _, err := s.Alerts.SaveAlert(ctx, first, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-second"), nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.AlertsStored(ctx, []string{"acme", "globex"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["acme"].Before(before) || got["acme"].After(time.Now()) {
		t.Errorf("AlertsStored = %v, want acme's alert stored after %s", got, before)
	}
}
