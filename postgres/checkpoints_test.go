package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// loadRows returns every row of checkpoint id, copied.
func loadRows(t testing.TB, s *postgres.Store, id int64) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := s.Checkpoints.LoadCheckpointRows(context.Background(), id, func(k string, d []byte) error {
		if _, ok := got[k]; ok {
			return fmt.Errorf("key %q twice", k)
		}
		got[k] = string(d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func delta(next int64, meta string, kv ...string) *dowser.CheckpointDelta {
	d := &dowser.CheckpointDelta{NextOffset: next, ErasureSeq: next / 10, Meta: []byte(meta)}
	for i := 0; i < len(kv); i += 2 {
		r := dowser.StateRow{Key: kv[i]}
		if kv[i+1] != "<nil>" {
			r.Data = []byte(kv[i+1])
		}
		d.Rows = append(d.Rows, r)
	}
	return d
}

func TestCheckpointClaimsFenceOffOldOwners(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil || cp.NextOffset != -1 || len(cp.Meta) != 0 || cp.Legacy != nil || cp.ID == 0 {
		t.Fatalf("first claim = %+v, %v; want an id and nothing saved", cp, err)
	}
	id := cp.ID
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(10, "m10", "customer:c-1", "one", "customer:c-2", "two")); err != nil {
		t.Fatal(err)
	}
	// b takes the partition over; a, still running, must not write.
	cp, err = s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "b")
	if err != nil || cp.ID != id || cp.NextOffset != 10 || cp.ErasureSeq != 1 || string(cp.Meta) != "m10" {
		t.Fatalf("b's claim = %+v, %v; want a's checkpoint %d", cp, err, id)
	}
	err = s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(20, "zombie", "customer:c-1", "<nil>", "customer:c-2", "zombie", "customer:c-3", "zombie"))
	if !errors.Is(err, dowser.ErrNotOwner) {
		t.Fatalf("old owner's save: %v, want ErrNotOwner", err)
	}
	if errors.Is(err, dowser.ErrPermanent) {
		t.Errorf("ErrNotOwner marked permanent: %v", err)
	}
	if got, want := loadRows(t, s, id), map[string]string{"customer:c-1": "one", "customer:c-2": "two"}; !maps.Equal(got, want) {
		t.Fatalf("rows after the zombie's save = %v, want %v", got, want)
	}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "b", delta(12, "m12", "customer:c-2", "twelve")); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 1, "b", delta(1, "")); !errors.Is(err, dowser.ErrNotOwner) {
		t.Fatalf("saving an unclaimed partition: %v, want ErrNotOwner", err)
	}
	cp, err = s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "c")
	if err != nil || cp.NextOffset != 12 || string(cp.Meta) != "m12" {
		t.Fatalf("c resumes from %+v, %v; want b's checkpoint", cp, err)
	}
	if got, want := loadRows(t, s, cp.ID), map[string]string{"customer:c-1": "one", "customer:c-2": "twelve"}; !maps.Equal(got, want) {
		t.Fatalf("c's rows = %v, want %v", got, want)
	}
	// Another partition's checkpoint has rows of its own.
	other, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 1, "c")
	if err != nil || other.ID == id {
		t.Fatalf("partition 1's claim = %+v, %v; want its own id", other, err)
	}
	if got := loadRows(t, s, other.ID); len(got) != 0 {
		t.Errorf("partition 1's rows = %v, want none", got)
	}
}

func TestCheckpointDeltasApplyInOrder(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 3, "a")
	if err != nil {
		t.Fatal(err)
	}
	// Blobs of 64 KB: the delta is cut into many.
	s.Checkpoints.SetCompaction(0, 64<<10)
	n := 20_017
	big := &dowser.CheckpointDelta{NextOffset: 1, Meta: []byte("m1")}
	want := map[string]string{}
	for i := range n {
		k := fmt.Sprintf("customer:c-%d", i)
		big.Rows = append(big.Rows, dowser.StateRow{Key: k, Data: []byte("v1-" + k)})
		want[k] = "v1-" + k
	}
	large := strings.Repeat("x", 40_000) // stored out of line
	steps := []*dowser.CheckpointDelta{
		big,
		// Overwrite, delete, insert, a large row and an empty one.
		delta(2, "m2", "customer:c-0", "v2", "customer:c-1", "<nil>", "#recent/3", large, "account:empty", ""),
		// Deleted then re-added; a delete of a key never written.
		delta(3, "m3", "customer:c-2", "<nil>", "customer:nobody", "<nil>"),
		delta(4, "m4", "customer:c-2", "back", "customer:c-1", "back too"),
		// A key twice in one delta: the last occurrence wins.
		delta(5, "m5", "customer:c-3", "first", "customer:c-4", "<nil>", "customer:c-3", "last"),
	}
	want["customer:c-0"] = "v2"
	want["#recent/3"] = large
	want["account:empty"] = ""
	want["customer:c-2"] = "back"
	want["customer:c-1"] = "back too"
	want["customer:c-3"] = "last"
	delete(want, "customer:c-4")
	for _, d := range steps {
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 3, "a", d); err != nil {
			t.Fatalf("saving delta at %d: %v", d.NextOffset, err)
		}
	}
	check := func(when string) {
		t.Helper()
		got := loadRows(t, s, cp.ID)
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows, want %d", when, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: row %q = %.40q, want %.40q", when, k, got[k], v)
			}
		}
		states, err := s.Checkpoints.CheckpointStates(ctx, "g", "events")
		if err != nil {
			t.Fatal(err)
		}
		if st := states[3]; st.ID != cp.ID || st.NextOffset != 5 || string(st.Meta) != "m5" || st.Legacy != nil {
			t.Fatalf("%s: checkpoint = %+v, want offset 5 and meta m5", when, st)
		}
	}
	check("after the deltas")

	// The last delta again, as after a commit whose outcome was lost.
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 3, "a", steps[len(steps)-1]); err != nil {
		t.Fatal(err)
	}
	check("after a retry")
}

func TestLegacyCheckpointIsReturnedThenCleared(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.MigrateTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	// As a build before incremental checkpoints saved it.
	pgtest.Exec(t, url, `INSERT INTO checkpoints (group_id, topic, partition, next_offset, state, owner, erasure_seq)
		VALUES ('g', 'events', 2, 77, '\x676f62', 'old', 4), ('g', 'events', 5, -1, '', 'old', 0)`)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 2, "new")
	if err != nil || cp.ID == 0 || cp.NextOffset != 77 || cp.ErasureSeq != 4 || string(cp.Legacy) != "gob" || len(cp.Meta) != 0 {
		t.Fatalf("claim of a legacy checkpoint = %+v, %v; want offset 77 and the legacy state", cp, err)
	}
	if empty, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 5, "new"); err != nil || empty.Legacy != nil || empty.ID == 0 || empty.ID == cp.ID {
		t.Fatalf("claim of a legacy checkpoint with nothing saved = %+v, %v; want no legacy state and an id of its own", empty, err)
	}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 2, "new", delta(80, "meta", "customer:c-1", "row")); err != nil {
		t.Fatal(err)
	}
	cp, err = s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 2, "newer")
	if err != nil || cp.NextOffset != 80 || cp.Legacy != nil || string(cp.Meta) != "meta" {
		t.Fatalf("claim after the first incremental save = %+v, %v; want the legacy state cleared", cp, err)
	}
	if got := loadRows(t, s, cp.ID); !maps.Equal(got, map[string]string{"customer:c-1": "row"}) {
		t.Errorf("rows = %v", got)
	}
}

// TestCheckpointSaveRacingClaim: a save racing a claim either commits
// before it, and the claimer then sees all of it, or fails with
// ErrNotOwner and leaves nothing.
func TestCheckpointSaveRacingClaim(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	outcomes := map[bool]int{}
	for p := range 40 {
		if _, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", p, "a"); err != nil {
			t.Fatal(err)
		}
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", p, "a", delta(1, "m1", "k0", "v1")); err != nil {
			t.Fatal(err)
		}
		var (
			wg      sync.WaitGroup
			saveErr error
			claimed dowser.Checkpoint
			err     error
		)
		wg.Go(func() {
			saveErr = s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", p, "a", delta(2, "m2", "k0", "v2", "k1", "new"))
		})
		wg.Go(func() {
			claimed, err = s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", p, "b")
		})
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		rows := loadRows(t, s, claimed.ID)
		switch {
		case saveErr == nil:
			if claimed.NextOffset != 2 || string(claimed.Meta) != "m2" || !maps.Equal(rows, map[string]string{"k0": "v2", "k1": "new"}) {
				t.Fatalf("partition %d: the save succeeded but the claim got %+v with rows %v", p, claimed, rows)
			}
		case errors.Is(saveErr, dowser.ErrNotOwner):
			if claimed.NextOffset != 1 || string(claimed.Meta) != "m1" || !maps.Equal(rows, map[string]string{"k0": "v1"}) {
				t.Fatalf("partition %d: the save was refused but the claim got %+v with rows %v", p, claimed, rows)
			}
		default:
			t.Fatalf("partition %d: save: %v", p, saveErr)
		}
		outcomes[saveErr == nil]++
	}
	t.Logf("saves landed before the claim: %d, refused: %d", outcomes[true], outcomes[false])
}

// TestCheckpointKeysAreBytes: keys are bytes inside a blob, not text
// columns, so a key that PostgreSQL text could not hold (a NUL, invalid
// UTF-8) is stored and read back as it was rather than failing the save
// for good.
func TestCheckpointKeysAreBytes(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	d := delta(5, "m", "ok", "v", "customer:nul\x00", "n", "customer:\xff", "ff", "", "empty key")
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", d); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ok": "v", "customer:nul\x00": "n", "customer:\xff": "ff", "": "empty key"}
	if got := loadRows(t, s, cp.ID); !maps.Equal(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
}

// TestCheckpointLoadThroughTheSimpleProtocol: text results (bytea as hex)
// read the same rows as binary ones, and fn's error stops a load.
func TestCheckpointLoadThroughTheSimpleProtocol(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	simple, err := postgres.Open(ctx, url+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(simple.Close)
	cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a")
	if err != nil {
		t.Fatal(err)
	}
	d := delta(1, "", "#recent/0", strings.Repeat("y", 70_000), "empty", "")
	for i := range 3000 {
		d.Rows = append(d.Rows, dowser.StateRow{Key: fmt.Sprintf("customer:ü-%d", i), Data: []byte(strings.Repeat("z", i%300))})
	}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", d); err != nil {
		t.Fatal(err)
	}
	// A second delta, so that the load merges two blobs.
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(2, "", "customer:ü-7", "new", "customer:ü-8", "<nil>")); err != nil {
		t.Fatal(err)
	}
	binary := loadRows(t, s, cp.ID)
	if len(binary) != len(d.Rows)-1 || binary["customer:ü-7"] != "new" {
		t.Fatalf("read %d rows (ü-7 = %.10q), want %d and the newest", len(binary), binary["customer:ü-7"], len(d.Rows)-1)
	}
	if got := loadRows(t, simple, cp.ID); !maps.Equal(got, binary) {
		t.Errorf("the simple protocol read %d rows, not the same as the binary one's", len(got))
	}
	// fn's error stops the load and is returned; the pool stays usable.
	stop := errors.New("stop")
	n := 0
	err = s.Checkpoints.LoadCheckpointRows(ctx, cp.ID, func(string, []byte) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Fatalf("load stopped after %d rows with %v, want 10 and the callback's error", n, err)
	}
	if got := loadRows(t, s, cp.ID); len(got) != len(binary) {
		t.Fatalf("load after a stopped one: %d rows, want %d", len(got), len(binary))
	}
}

func TestCheckpointCollectorGaugesTheTables(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", delta(1, "m", "k1", "v", "k2", "v")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Checkpoints.Collector())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	want := []string{
		"dowser_checkpoint_compaction_paused_seconds_total", "dowser_checkpoint_compaction_seconds_total", "dowser_checkpoint_compaction_written_bytes_total",
		"dowser_checkpoint_compactions_skipped_total", "dowser_checkpoint_compactions_total",
		"dowser_checkpoint_keys", "dowser_checkpoint_log_bytes", "dowser_checkpoint_table_bytes",
	}
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, want) {
		t.Fatalf("gathered %v", names)
	}
	// Two tables, their primary keys and TOAST: at least a page each.
	if got["dowser_checkpoint_table_bytes"] < 4*8192 {
		t.Errorf("dowser_checkpoint_table_bytes = %v, want the tables' pages", got["dowser_checkpoint_table_bytes"])
	}
	// Nothing compacted yet: the keys count only as of a compaction.
	if got["dowser_checkpoint_keys"] != 0 || got["dowser_checkpoint_compactions_total"] != 0 {
		t.Errorf("keys %v after %v compactions, want 0 before any", got["dowser_checkpoint_keys"], got["dowser_checkpoint_compactions_total"])
	}
	// A version byte, then per key: lengths (1 byte each), key and data.
	if want := float64(1 + 2*(1+2+1+1)); got["dowser_checkpoint_log_bytes"] != want {
		t.Errorf("dowser_checkpoint_log_bytes = %v, want %v", got["dowser_checkpoint_log_bytes"], want)
	}
}
