package detector

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// TestColdSubjectsChangeNothing runs the random runs of
// TestChangesRestoreExactly on an engine that freezes untouched subjects
// after one or two checkpoints and on one that never does: every op must
// give the same alerts, the states must be the same throughout, and the
// checkpoint rows of the freezing engine must restore that state.
func TestColdSubjectsChangeNothing(t *testing.T) {
	froze, thawed := 0, 0
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 29))
		ops := randomOps(t, rng, 3000)
		for i := range ops {
			// Checkpoints often, so that subjects go cold and come back.
			ops[i].changes = ops[i].changes || (ops[i].ev != nil && rng.IntN(8) == 0)
		}
		plain := New(parseAll(t, snapshotSignals))
		cold := New(parseAll(t, snapshotSignals))
		cold.SetColdAfter(1 + int(seed%2))
		for _, e := range []*Engine{plain, cold} {
			e.recent.limit, e.links.limit = ringChunk+300, 6
		}
		plainRows, coldRows := table{}, table{}
		signals, clean := parseAll(t, snapshotSignals), false
		for i, o := range ops {
			if o.signals != nil {
				signals = o.signals
			}
			clean = clean || o.clean
			n, _ := cold.ColdSubjects()
			want := run(plain, ops[i:i+1], plainRows, nil)[0]
			got := run(cold, ops[i:i+1], coldRows, nil)[0]
			if got != want {
				t.Fatalf("seed %d, op %d: the freezing engine gives\n%s\nwant\n%s", seed, i, got, want)
			}
			m, _ := cold.ColdSubjects()
			if m > n {
				froze++
			} else if m < n {
				thawed++
			}
			if o.changes && rng.IntN(10) == 0 {
				what := fmt.Sprintf("seed %d, op %d", seed, i)
				ref := sweepless(plain, canonical(t, plain))
				sameState(t, what, sweepless(cold, canonical(t, cold)), ref)
				meta := coldRows.apply(cold)
				r := restoreRows(t, rng, signals, cold, meta, maps.Clone(coldRows))
				if clean {
					r.SetEvidenceURL(cleanURL) // as the pipeline does
				}
				sameState(t, what+", restored", sweepless(r, canonical(t, r)), ref)
			}
		}
		if cold.ThawErrors() != 0 {
			t.Fatalf("seed %d: %d cold rows failed to thaw", seed, cold.ThawErrors())
		}
	}
	if froze < 50 || thawed < 50 {
		t.Fatalf("subjects froze %d times and thawed %d times: the runs test little", froze, thawed)
	}
}

// sweepless drops from s, e's state, what depends on when sweeps run,
// which never changes an alert: their times, and the states forgotten
// but not freed yet (a cold subject is freed when its row is due back).
func sweepless(e *Engine, s snapEngine) snapEngine {
	s.NextSweep = s.Watermark
	for i := range s.Programs {
		sp := &s.Programs[i]
		sp.NextSweep = s.Watermark
		var p *program
		for _, q := range e.programs {
			if q.sig.ID == sp.ID {
				p = q
			}
		}
		sp.States = slices.DeleteFunc(sp.States, func(ss snapState) bool {
			st := &subjectState{records: []record{{at: unixNanos(ss.Records[len(ss.Records)-1].Ev.Time)}},
				stateMore: &stateMore{scoreSums: scoreSums{total: ss.Total}}}
			return p.expired(st, e.watermark)
		})
	}
	return s
}

// TestColdRowsCompactAndReuse fills the cold store past its compaction
// point with subjects that come and go, and checks every one still held
// reads back as put.
func TestColdRowsCompactAndReuse(t *testing.T) {
	e := New(nil)
	c := newColdRows(e.x.seed)
	want := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	row := func(k string, n int) string { return strings.Repeat(k[len(k)-1:], n) }
	moved := 0
	for i := range 400_000 {
		if i%1000 == 0 {
			// As a call to Changes does: one step of evacuation, bounded.
			before := c.held
			at, evac := c.evacAt, c.evac
			c.evacuate(evacBudget)
			if evac >= 0 && c.evac == evac && c.evacAt-at > evacBudget+4096 {
				t.Fatalf("one step read %d bytes of a slab", c.evacAt-at)
			}
			if c.held < before {
				moved++
			}
		}
		k := fmt.Sprintf("customer:c%d", rng.IntN(50_000))
		if _, ok := want[k]; ok {
			i, found := c.find([]byte(k), c.hash([]byte(k)))
			if !found {
				t.Fatalf("%s lost", k)
			}
			key, r := c.entry(i)
			if string(key) != k || string(r) != want[k] {
				t.Fatalf("%s reads back as %q %q", k, key, r)
			}
			c.remove(i, key)
			delete(want, k)
			continue
		}
		v := row(k, 100+i%3000)
		if err := c.put(k, []byte(v), int64(i), 0); err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	if c.len() != len(want) {
		t.Fatalf("%d held, want %d", c.len(), len(want))
	}
	total, live := 0, 0
	for i, s := range c.slabs {
		total += cap(s)
		live += c.slabLive[i]
	}
	if total != c.held || live != c.live {
		t.Fatalf("slabs of %d bytes, %d live; counted %d and %d", total, live, c.held, c.live)
	}
	if moved == 0 || total > 2*c.live+2*coldSlab+evacMin {
		t.Fatalf("slabs of %d bytes hold %d live; %d steps gave slabs back", total, c.live, moved)
	}
	keys := slices.Sorted(maps.Keys(want))
	for _, k := range keys {
		i, ok := c.find([]byte(k), c.hash([]byte(k)))
		if !ok {
			t.Fatalf("%s lost", k)
		}
		if _, r := c.entry(i); string(r) != want[k] {
			t.Fatalf("%s changed", k)
		}
	}
	if err := c.put(keys[0], []byte("x"), 0, 0); err != errColdTwice {
		t.Fatalf("put of a held subject: %v", err)
	}
}

// TestFreezingIsPacedByChange checks that a call to Changes freezes no
// more subjects than it saw change (or freezeMin), and that a burst of
// idle subjects still all go cold over the calls that follow.
func TestFreezingIsPacedByChange(t *testing.T) {
	e := New(parseAll(t, snapshotSignals))
	e.SetColdAfter(1)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const people = 3 * freezeMin
	for i := range people {
		e.Evaluate(&schema.Event{ID: fmt.Sprintf("e%d", i), Type: "page_view", Time: base.Add(time.Duration(i) * time.Millisecond),
			Customer: schema.Customer{ID: fmt.Sprintf("c%d", i), AccountID: fmt.Sprintf("a%d", i)}, Properties: map[string]any{"url": "https://x/blog"}})
	}
	hot := e.ActiveSubjects()
	var counts []int
	for range 8 {
		e.Changes(func(string, []byte) {})
		n, _ := e.ColdSubjects()
		counts = append(counts, n)
	}
	for i := 1; i < len(counts); i++ {
		if d := counts[i] - counts[i-1]; d > freezeMin {
			t.Fatalf("one call froze %d subjects, more than %d with nothing changed: %v", d, freezeMin, counts)
		}
	}
	if last := counts[len(counts)-1]; last != hot {
		t.Fatalf("%d of %d subjects cold after the burst: %v", last, hot, counts)
	}
	if e.Subjects() != hot {
		t.Fatalf("%d subjects held, want %d", e.Subjects(), hot)
	}
}

// TestIdleEngineFreezes checks that FreezeIdle freezes the subjects an
// engine last saw once it is idle, and does nothing while changes wait.
func TestIdleEngineFreezes(t *testing.T) {
	e := New(parseAll(t, snapshotSignals))
	e.SetColdAfter(2)
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ev := func(i int) *schema.Event {
		return &schema.Event{ID: fmt.Sprintf("e%d", i), Type: "page_view", Time: base.Add(time.Duration(i) * time.Millisecond),
			Customer: schema.Customer{ID: fmt.Sprintf("c%d", i), AccountID: fmt.Sprintf("a%d", i)}, Properties: map[string]any{"url": "https://x/blog"}}
	}
	for i := range 100 {
		e.Evaluate(ev(i))
	}
	e.Changes(func(string, []byte) {})
	e.Evaluate(ev(100)) // a change not taken yet
	for range 5 {
		e.FreezeIdle()
	}
	if n, _ := e.ColdSubjects(); n != 0 {
		t.Fatalf("%d subjects froze while a change waited to be taken", n)
	}
	e.Changes(func(string, []byte) {})
	for i := 0; e.Freezing(); i++ {
		if i > 10 {
			t.Fatal("still freezing after 10 idle calls")
		}
		e.FreezeIdle()
	}
	if n, _ := e.ColdSubjects(); n != e.ActiveSubjects() || n == 0 {
		t.Fatalf("%d of %d subjects cold once idle", n, e.ActiveSubjects())
	}
}
