package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

// logEntries returns the entries of checkpoint id's log, newest blob
// first, and the blobs' sizes.
func logEntries(t testing.TB, s *postgres.Store, id int64) (entries []string, sizes []int) {
	t.Helper()
	rows, err := s.Checkpoints.Pool().Query(context.Background(), `SELECT data FROM checkpoint_log WHERE checkpoint_id = $1 ORDER BY seq DESC`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
		if err := postgres.ParseLogBlob(b, func(k, _ []byte) error { entries = append(entries, string(k)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return entries, sizes
}

// TestCheckpointCompactionKeepsTheNewestState applies random deltas (new
// keys, overwrites, deletes, a key twice, resets, retries) with a tiny
// compaction threshold, and compares the stored state with a model after
// every save; right after a compaction the log holds each live key once.
func TestCheckpointCompactionKeepsTheNewestState(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	s.Checkpoints.SetCompaction(4<<10, 2<<10)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 13))
	model := map[string]string{}
	compactions := s.Checkpoints.Compactions()
	checkedCompacted := 0
	for step := range 400 {
		d := &dowser.CheckpointDelta{NextOffset: int64(step), Meta: []byte(fmt.Sprint("m", step)), Reset: r.IntN(100) == 0}
		if d.Reset {
			clear(model)
		}
		for range r.IntN(40) {
			k := fmt.Sprintf("customer:c-%d", r.IntN(300))
			if r.IntN(4) == 0 {
				d.Rows = append(d.Rows, dowser.StateRow{Key: k})
				delete(model, k)
				continue
			}
			v := fmt.Sprintf("%d-%s", step, strings.Repeat("v", r.IntN(200)))
			d.Rows = append(d.Rows, dowser.StateRow{Key: k, Data: []byte(v)})
			model[k] = v
		}
		saves := 1
		if r.IntN(10) == 0 {
			saves = 2 // a retry after an unknown outcome
		}
		for range saves {
			if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", d); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		if got := loadRows(t, s, cp.ID); !maps.Equal(got, model) {
			t.Fatalf("step %d: %d rows, want %d; differences: %v", step, len(got), len(model), diff(got, model))
		}
		if n := s.Checkpoints.Compactions(); n != compactions {
			compactions = n
			if saves == 1 {
				entries, _ := logEntries(t, s, cp.ID)
				if len(entries) != len(model) {
					t.Fatalf("step %d: after a compaction the log has %d entries for %d live keys", step, len(entries), len(model))
				}
				checkedCompacted++
			}
		}
	}
	if compactions < 10 || checkedCompacted == 0 {
		t.Fatalf("%d compactions, %d checked right after: want many", compactions, checkedCompacted)
	}
	t.Logf("%d compactions", compactions)
	st, err := s.Checkpoints.CheckpointStates(ctx, "g", "events")
	if err != nil || st[0].NextOffset != 399 || string(st[0].Meta) != "m399" {
		t.Fatalf("checkpoint = %+v, %v; want the last delta's offset and meta", st[0], err)
	}
}

// diff lists up to five keys whose values differ.
func diff(got, want map[string]string) []string {
	var out []string
	for k := range maps.Keys(want) {
		if g, ok := got[k]; !ok || g != want[k] {
			out = append(out, fmt.Sprintf("%s: got %.12q, want %.12q", k, g, want[k]))
		}
	}
	for k := range maps.Keys(got) {
		if _, ok := want[k]; !ok {
			out = append(out, k+": not wanted")
		}
	}
	return out[:min(5, len(out))]
}

// TestCheckpointCompactionWaitsForTheRunningOne: a save due to compact
// while another compaction holds the store's semaphore appends only; the
// next save compacts.
func TestCheckpointCompactionWaitsForTheRunningOne(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	s.Checkpoints.SetCompaction(100, 0)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 200)
	release := s.Checkpoints.HoldCompaction()
	for i := range 3 {
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(int64(i), "m", "k", big+fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Checkpoints.Compactions(); n != 0 {
		t.Fatalf("%d compactions while one was running, want 0", n)
	}
	if entries, _ := logEntries(t, s, cp.ID); len(entries) != 3 {
		t.Fatalf("log of %d entries, want the 3 appended", len(entries))
	}
	release()
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(4, "m", "k", big)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := logEntries(t, s, cp.ID); s.Checkpoints.Compactions() != 1 || len(entries) != 1 {
		t.Fatalf("after release: %d compactions, %d entries; want 1 and 1", s.Checkpoints.Compactions(), len(entries))
	}
	if got := loadRows(t, s, cp.ID); !maps.Equal(got, map[string]string{"k": big}) {
		t.Fatalf("rows = %.20q", got)
	}
}

// TestCheckpointBlobsSplitAtTheLimit: a delta, and a compaction's output,
// are cut into blobs of at most the limit; an entry larger than it gets a
// blob of its own.
func TestCheckpointBlobsSplitAtTheLimit(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const limit = 1000
	s.Checkpoints.SetCompaction(1<<40, limit)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	d := &dowser.CheckpointDelta{NextOffset: 1}
	for i := range 100 {
		// 1 + 10 + 1 + 88 = 100 bytes an entry: 9 to a blob after its
		// version byte.
		d.Rows = append(d.Rows, dowser.StateRow{Key: fmt.Sprintf("customer:%d", 10+i), Data: []byte(strings.Repeat("d", 88))})
	}
	d.Rows = append(d.Rows, dowser.StateRow{Key: "#recent/0", Data: []byte(strings.Repeat("r", 5000))})
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", d); err != nil {
		t.Fatal(err)
	}
	checkSizes := func(when string, sizes []int) {
		t.Helper()
		var large, total int
		for _, n := range sizes {
			total += n
			switch {
			case n > 5000:
				large++
			case n > limit:
				t.Errorf("%s: a blob of %d bytes, over the limit of %d", when, n, limit)
			}
		}
		if large != 1 || len(sizes) != 1+(100+8)/9 {
			t.Errorf("%s: blobs of %v bytes; want one large and %d within the limit", when, sizes, (100+8)/9)
		}
	}
	entries, sizes := logEntries(t, s, cp.ID)
	checkSizes("delta", sizes)
	if len(entries) != 101 {
		t.Fatalf("%d entries, want 101", len(entries))
	}
	// Compact: every entry survives, again cut at the limit.
	s.Checkpoints.SetCompaction(1, limit)
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(2, "m")); err != nil {
		t.Fatal(err)
	}
	if s.Checkpoints.Compactions() != 1 {
		t.Fatalf("%d compactions, want 1", s.Checkpoints.Compactions())
	}
	entries, sizes = logEntries(t, s, cp.ID)
	checkSizes("compacted", sizes)
	if got := loadRows(t, s, cp.ID); len(got) != 101 || len(entries) != 101 {
		t.Fatalf("after compaction: %d rows, %d entries; want 101", len(got), len(entries))
	}
}

// TestCheckpointCorruptBlobIsAnError: a blob that does not parse fails a
// load, and a compaction (with the save around it), with an error naming
// the checkpoint and the blob; it is not marked permanent.
func TestCheckpointCorruptBlobIsAnError(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(int64(i), "m", fmt.Sprint("k", i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	for name, blob := range map[string]string{
		"version":     "\\x02",
		"empty":       "\\x",
		"key length":  "\\x010561",
		"data length": "\\x0101610963",
		"varint":      "\\x01ff",
	} {
		if _, err := s.Checkpoints.Pool().Exec(ctx, `UPDATE checkpoint_log SET data = $2::bytea WHERE checkpoint_id = $1 AND seq = 2`, cp.ID, blob); err != nil {
			t.Fatal(err)
		}
		err := s.Checkpoints.LoadCheckpointRows(ctx, cp.ID, func(string, []byte) error { return nil })
		want := fmt.Sprintf("loading rows of checkpoint %d: log blob seq 2: corrupt checkpoint log", cp.ID)
		if err == nil || !strings.Contains(err.Error(), want) || errors.Is(err, dowser.ErrPermanent) {
			t.Errorf("%s: load: %v; want an error containing %q, not permanent", name, err, want)
		}
	}
	s.Checkpoints.SetCompaction(1, 0)
	err = s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(9, "m9", "k9", "v"))
	if want := fmt.Sprintf("compacting checkpoint %d: log blob seq 2: corrupt", cp.ID); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("save compacting a corrupt log: %v; want an error containing %q", err, want)
	}
	if st, err := s.Checkpoints.CheckpointStates(ctx, "g", "events"); err != nil || st[0].NextOffset != 2 {
		t.Errorf("after the failed save: %+v, %v; want offset 2", st[0], err)
	}
}

// TestCheckpointErasureCompacts: a delta that applies an erasure compacts
// the log at once, so that no superseded entry keeps the erased person's
// data; while another compaction runs, such a save fails, to be retried,
// rather than leave the entries behind.
func TestCheckpointErasureCompacts(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	save := func(d *dowser.CheckpointDelta) error {
		return s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", d)
	}
	first := delta(1, "m", "customer:erased", "secret", "customer:kept", "v")
	if err := save(first); err != nil {
		t.Fatal(err)
	}
	erase := delta(2, "m", "customer:erased", "<nil>")
	erase.ErasureSeq = 7
	release := s.Checkpoints.HoldCompaction()
	if err := save(erase); err == nil || errors.Is(err, dowser.ErrPermanent) {
		t.Fatalf("an erasure's save while another compaction runs: %v, want a transient error", err)
	}
	release()
	if err := save(erase); err != nil {
		t.Fatal(err)
	}
	entries, _ := logEntries(t, s, cp.ID)
	if slices.Contains(entries, "customer:erased") {
		t.Fatalf("log entries %v still name the erased subject", entries)
	}
	if got := loadRows(t, s, cp.ID); !maps.Equal(got, map[string]string{"customer:kept": "v"}) {
		t.Fatalf("rows = %v", got)
	}
}
