package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// openBench is open for benchmarks: a migrated scratch database, skipped
// without DATABASE_URL.
func openBench(b *testing.B) (*postgres.Store, string) {
	b.Helper()
	ctx := context.Background()
	url := pgtest.URL(b)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return s, url
}

// stateDelta is a delta of n rows keyed like subjects, each with size bytes
// of data (incompressible, like the engine's encoding), from keys
// first..first+n, the data varying with round.
func stateDelta(first, n, size int, round uint64) *dowser.CheckpointDelta {
	r := rand.New(rand.NewPCG(round, 1))
	d := &dowser.CheckpointDelta{NextOffset: int64(round), Meta: []byte("meta"), Rows: make([]dowser.StateRow, n)}
	data := make([]byte, n*size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for i := range n {
		d.Rows[i] = dowser.StateRow{Key: "customer:c-" + strconv.Itoa(first+i), Data: data[i*size : (i+1)*size : (i+1)*size]}
	}
	return d
}

// BenchmarkSaveCheckpointDelta saves a delta of 200k rows of ~250 bytes,
// the same keys each time with new data (so each save updates every row).
func BenchmarkSaveCheckpointDelta(b *testing.B) {
	ctx := context.Background()
	s, _ := openBench(b)
	if _, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a"); err != nil {
		b.Fatal(err)
	}
	const rows = 200_000
	deltas := []*dowser.CheckpointDelta{stateDelta(0, rows, 235, 1), stateDelta(0, rows, 235, 2)}
	if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", deltas[0]); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(deltas[0].Bytes())
	i := 0
	start := time.Now()
	for b.Loop() {
		i++
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", deltas[i%2]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i*rows)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkLoadCheckpointRows reads 1M rows of ~250 bytes: from one
// checkpoint, by a binary COPY and by LoadCheckpointRows's SELECT, and from
// six checkpoints at once (a rebalance handing over six partitions).
func BenchmarkLoadCheckpointRows(b *testing.B) {
	ctx := context.Background()
	s, url := openBench(b)
	const rows, parts = 1_000_000, 6
	var one int64
	var six []int64
	var bytes int64
	for p := range parts + 1 {
		cp, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", p, "a")
		if err != nil {
			b.Fatal(err)
		}
		if p == 0 {
			one = cp.ID
		} else {
			six = append(six, cp.ID)
		}
		n := rows / parts
		if p == 0 {
			n = rows
		}
		for first := 0; first < n; first += 100_000 {
			d := stateDelta(first, min(100_000, n-first), 235, uint64(first))
			if p == 0 {
				bytes += d.Bytes() - int64(len(d.Meta))
			}
			if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", p, "a", d); err != nil {
				b.Fatal(err)
			}
		}
	}
	// As the table is after autovacuum: hint bits set, statistics known.
	pgtest.Exec(b, url, "VACUUM ANALYZE checkpoint_rows")

	count := func(load func(context.Context, int64, func(string, []byte) error) error, id int64) int {
		n := 0
		if err := load(ctx, id, func(k string, d []byte) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		return n
	}
	for _, m := range []struct {
		name string
		load func(context.Context, int64, func(string, []byte) error) error
	}{{"copy", s.Checkpoints.LoadRowsCopy}, {"select", s.Checkpoints.LoadCheckpointRows}} {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				if n := count(m.load, one); n != rows {
					b.Fatalf("%d rows, want %d", n, rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run(fmt.Sprintf("select-%d-concurrent", parts), func(b *testing.B) {
		b.SetBytes(bytes)
		for b.Loop() {
			var wg sync.WaitGroup
			counts := make([]int, parts)
			for i, id := range six {
				wg.Go(func() { counts[i] = count(s.Checkpoints.LoadCheckpointRows, id) })
			}
			wg.Wait()
			if total := sum(counts); total != rows/parts*parts {
				b.Fatalf("%d rows, want %d", total, rows/parts*parts)
			}
		}
		b.ReportMetric(float64(rows/parts*parts)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

// TestCheckpointRowsBloat rewrites the same 200k keys (~250 bytes each)
// 100 times, with autovacuum running as configured, and reports the tables'
// size against the live keys and data. It takes minutes: set
// DOWSER_BLOAT_TEST=1 to run it.
func TestCheckpointRowsBloat(t *testing.T) {
	if os.Getenv("DOWSER_BLOAT_TEST") == "" {
		t.Skip("set DOWSER_BLOAT_TEST=1 to measure bloat (minutes)")
	}
	ctx := context.Background()
	s := open(t)
	if _, err := s.Checkpoints.ClaimCheckpoint(ctx, "g", "events", 0, "a"); err != nil {
		t.Fatal(err)
	}
	const keys, rounds = 200_000, 100
	rewrites, _ := strconv.Atoi(os.Getenv("DOWSER_BLOAT_ROUNDS"))
	if rewrites <= 0 {
		rewrites = rounds
	}
	var live int64
	reg := s.Checkpoints.Collector()
	size := func() float64 { return gauge(t, reg, "dowser_checkpoint_table_bytes") }
	start := time.Now()
	for round := range rewrites {
		d := stateDelta(0, keys, 235, uint64(round))
		live = d.Bytes() - int64(len(d.Meta))
		if err := s.Checkpoints.SaveCheckpointDelta(ctx, "g", "events", 0, "a", d); err != nil {
			t.Fatal(err)
		}
		if round%10 == 9 {
			t.Logf("round %3d after %v: %.1f MB for %.1f MB live", round+1, time.Since(start).Round(time.Second), size()/1e6, float64(live)/1e6)
		}
	}
	got := size()
	t.Logf("after %d rewrites of %d keys: tables %.1f MB, live keys and data %.1f MB: %.2f×", rewrites, keys, got/1e6, float64(live)/1e6, got/float64(live))
	if got > 2*float64(live) {
		t.Errorf("tables are %.2f× the live data, want at most 2×", got/float64(live))
	}
}

// gauge gathers c and returns the value of its gauge name.
func gauge(t testing.TB, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
