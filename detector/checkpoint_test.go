package detector

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/schema"
)

// table is a checkpoint table as the storage keeps it: rows by key.
type table map[string][]byte

// apply writes the changes of e to t and returns the meta.
func (t table) apply(e *Engine) []byte {
	return e.Changes(func(key string, data []byte) {
		if data == nil {
			delete(t, key)
			return
		}
		t[key] = data
	})
}

// restoreRows returns an engine of signals (and e's ring limits) restored
// from meta and the rows of t, added in an order rng shuffles.
func restoreRows(tb testing.TB, rng *rand.Rand, signals []*Signal, limits *Engine, meta []byte, t table) *Engine {
	tb.Helper()
	r := New(signals)
	r.recent.limit, r.links.limit = limits.recent.limit, limits.links.limit
	rs, err := r.BeginRestore(meta)
	if err != nil {
		tb.Fatalf("BeginRestore: %v", err)
	}
	keys := slices.Collect(maps.Keys(t))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		if err := rs.Add(k, t[k]); err != nil {
			tb.Fatalf("Add: %v", err)
		}
	}
	if err := rs.Finish(); err != nil {
		tb.Fatalf("Finish: %v", err)
	}
	return r
}

// canonical is e's whole state with the states of each signal sorted by
// subject, so that two engines in the same state compare equal.
func canonical(tb testing.TB, e *Engine) snapEngine {
	tb.Helper()
	data, err := e.Snapshot()
	if err != nil {
		tb.Fatal(err)
	}
	var s snapEngine
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		tb.Fatal(err)
	}
	for i := range s.Programs {
		slices.SortFunc(s.Programs[i].States, func(a, b snapState) int { return strings.Compare(a.Subject, b.Subject) })
	}
	return s
}

// sameState fails tb with the first difference between two states.
func sameState(tb testing.TB, what string, got, want snapEngine) {
	tb.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, w := got, want
	g.Programs, w.Programs = nil, nil
	g.Recent, w.Recent = nil, nil
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("%s: engine-wide state differs:\ngot  %+v\nwant %+v", what, g, w)
	}
	if !slices.Equal(got.Recent, want.Recent) {
		tb.Fatalf("%s: recent ids differ (%d, want %d)", what, len(got.Recent), len(want.Recent))
	}
	if len(got.Programs) != len(want.Programs) {
		tb.Fatalf("%s: %d programs, want %d", what, len(got.Programs), len(want.Programs))
	}
	for i := range got.Programs {
		gp, wp := got.Programs[i], want.Programs[i]
		if len(gp.States) != len(wp.States) {
			tb.Fatalf("%s: signal %s has %d states, want %d", what, wp.ID, len(gp.States), len(wp.States))
		}
		for j := range gp.States {
			if !reflect.DeepEqual(gp.States[j], wp.States[j]) {
				tb.Fatalf("%s: signal %s:\ngot  %+v\nwant %+v", what, wp.ID, gp.States[j], wp.States[j])
			}
		}
		gp.States, wp.States = nil, nil
		if !reflect.DeepEqual(gp, wp) {
			tb.Fatalf("%s: signal %s: got %+v, want %+v", what, wp.ID, gp, wp)
		}
	}
}

// op is one step of a randomised run: an event, an erasure, a new signal
// set, an evidence URL cleaner, or a checkpoint.
type op struct {
	ev      *schema.Event
	forget  string
	signals []*Signal
	clean   bool
	changes bool
	all     bool // MarkAllChanged before the checkpoint
	// advance, when set, is given to Engine.Advance.
	advance time.Time
}

// cleanURL is the evidence URL cleaner the runs set.
func cleanURL(u string) string { return strings.TrimSuffix(u, "/2") }

// randomOps returns a run over randomEvents with erasures, signal changes
// (a changed version, a removed signal, a new one), one cleaner and
// checkpoints at random points.
func randomOps(t *testing.T, rng *rand.Rand, n int) []op {
	all := parseAll(t, snapshotSignals)
	changed := parseAll(t, snapshotSignals)
	changed[3].Version = 2                                         // heat changes: its states go
	changed = slices.Delete(changed, 0, 1)                         // pricing goes
	changed = append(changed, parseAll(t, snapshotSignals[:1])...) // and comes back, afresh
	changed[len(changed)-1].ID = "pricing-2"
	sets := [][]*Signal{all, changed}
	// The first op names the other signal set, for restores under it.
	ops := []op{{signals: all}}
	ops[0].signals = changed
	ops = append(ops, op{signals: all})
	for _, ev := range randomEvents(rng, n) {
		ops = append(ops, op{ev: &ev})
		switch rng.IntN(400) {
		case 0, 1:
			acct := rng.IntN(8)
			ops = append(ops, op{forget: fmt.Sprintf("a%d-c%d", acct, []int{0, 9}[rng.IntN(2)])})
		case 2, 3:
			ops = append(ops, op{signals: sets[rng.IntN(2)]})
		case 4:
			ops = append(ops, op{clean: true})
		case 5, 6:
			// (No draw from rng: the runs stay those of the seeds.)
			ops = append(ops, op{advance: ev.Time.Add(time.Duration(len(ops)%90) * time.Minute)})
		}
		if rng.IntN(40) == 0 {
			ops = append(ops, op{changes: true, all: rng.IntN(10) == 0})
		}
	}
	return ops
}

// run applies ops to e, keeping the table up to date at each checkpoint,
// and returns the alerts of each op.
func run(e *Engine, ops []op, t table, at func(i int, meta []byte)) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		switch {
		case o.ev != nil:
			ev := *o.ev
			out[i] = texts(e.Evaluate(&ev))
		case o.forget != "":
			out[i] = fmt.Sprint(e.Forget(o.forget))
		case o.signals != nil:
			e.SetSignals(o.signals)
		case o.clean:
			e.SetEvidenceURL(cleanURL)
		case !o.advance.IsZero():
			out[i] = texts(e.Advance(o.advance))
		case o.changes && t != nil:
			if o.all {
				e.MarkAllChanged()
			}
			meta := t.apply(e)
			if at != nil {
				at(i, meta)
			}
		}
	}
	return out
}

// TestChangesRestoreExactly drives an engine with random runs,
// checkpoints it as rows at random points, and restores a new engine
// from each checkpoint's meta and rows in random order: it must hold the
// same state and evaluate the rest of the run to the same alerts.
func TestChangesRestoreExactly(t *testing.T) {
	restores, stale := 0, 0
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 13))
		ops := randomOps(t, rng, 3000)
		e := New(parseAll(t, snapshotSignals))
		// Rings of several chunks that wrap.
		e.recent.limit, e.links.limit = ringChunk+300, 6

		type checkpoint struct {
			at      int
			meta    []byte
			rows    table
			state   snapEngine
			signals []*Signal
			clean   bool
		}
		var cps []checkpoint
		signals, clean := parseAll(t, snapshotSignals), false
		rows := table{}
		for i, o := range ops {
			if o.signals != nil {
				signals = o.signals
			}
			clean = clean || o.clean
			if o.changes && rng.IntN(6) == 0 {
				ops[i].changes = true
				cps = append(cps, checkpoint{at: i, signals: signals, clean: clean})
			}
		}
		next := 0
		alerts := run(e, ops, rows, func(i int, meta []byte) {
			if next < len(cps) && cps[next].at == i {
				cps[next].meta, cps[next].rows, cps[next].state = meta, maps.Clone(rows), canonical(t, e)
				next++
			}
		})
		if !slices.ContainsFunc(alerts, func(s string) bool { return strings.Contains(s, "v") }) {
			t.Fatalf("seed %d: the run fired nothing; it tests nothing", seed)
		}
		for _, cp := range cps {
			r := restoreRows(t, rng, cp.signals, e, cp.meta, cp.rows)
			what := fmt.Sprintf("seed %d, restored after op %d", seed, cp.at)
			// The rows hold cleaned evidence already; the cleaner is for
			// what comes.
			sameState(t, what, canonical(t, r), cp.state)
			if cp.clean {
				r.SetEvidenceURL(cleanURL)
			}
			snap, err := r.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if len(r.marks.subjects) > 0 {
				stale++
			}
			got := run(r, ops[cp.at+1:], table{}, nil)
			for j, g := range got {
				if want := alerts[cp.at+1+j]; g != want {
					t.Fatalf("%s: op %d gives\n%s\nwant\n%s", what, cp.at+1+j, g, want)
				}
			}
			restores++

			// Restored under other signals, the states of the changed
			// ones go, as from a whole-state snapshot, and their rows
			// are rewritten.
			other := ops[0].signals // never nil: see randomOps
			if reflect.DeepEqual(other, cp.signals) {
				other = parseAll(t, snapshotSignals)
			}
			o := restoreRows(t, rng, other, e, cp.meta, cp.rows)
			ref := New(other)
			if err := ref.RestoreSnapshot(snap); err != nil {
				t.Fatal(err)
			}
			if cp.clean {
				o.SetEvidenceURL(cleanURL)
			}
			sameState(t, what+" under other signals", canonical(t, o), canonical(t, ref))
			if len(o.tier.retired) > 0 {
				stale++
			}
			// Cold rows keep the states of changed signals until thawed;
			// the meta names those programs meanwhile.
			again := maps.Clone(cp.rows)
			meta := again.apply(o)
			o2 := restoreRows(t, rng, other, e, meta, again)
			sameState(t, what+" under other signals, checkpointed again", canonical(t, o2), canonical(t, ref))
			o2.thawAll()
			if len(o2.tier.retired) != 0 {
				t.Fatalf("%s: %d programs gone still named with no cold row left", what, len(o2.tier.retired))
			}
			meta = again.apply(o2)
			o3 := restoreRows(t, rng, other, e, meta, again)
			if len(o3.tier.retired) != 0 {
				t.Fatalf("%s: rows still hold changed signals after a thaw and a checkpoint", what)
			}
			sameState(t, what+" under other signals, thawed and checkpointed", canonical(t, o3), canonical(t, ref))
		}
	}
	if stale == 0 {
		t.Error("no restore under other signals found rows to rewrite")
	}
	if restores < 10 {
		t.Errorf("only %d restores: the runs test little", restores)
	}
	t.Logf("%d restores", restores)
}

// thawAll thaws every cold subject.
func (e *Engine) thawAll() {
	for i := range e.tier.rows.slots {
		if e.tier.rows.slots[i].n != 0 {
			e.thaw(uint32(i))
		}
	}
}

// smallCheckpoint returns the signals, meta and rows of an engine after a
// random run with identity links.
func smallCheckpoint(tb testing.TB) ([]*Signal, []byte, table) {
	tb.Helper()
	sigs := parseAll(tb, snapshotSignals)
	e := New(sigs)
	evaluateAll(e, randomEvents(rand.New(rand.NewPCG(3, 3)), 400))
	rows := table{}
	return sigs, rows.apply(e), rows
}

// TestRestoreRejectsCorruptRows gives BeginRestore and Add truncated,
// re-versioned and garbled input: each must be an error naming the row,
// never a panic or a silent success.
func TestRestoreRejectsCorruptRows(t *testing.T) {
	sigs, meta, rows := smallCheckpoint(t)
	begin := func() *Restorer {
		r, err := New(sigs).BeginRestore(meta)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kinds := map[byte]bool{}
	for key, data := range rows {
		kinds[key[0]] = true
		bad := map[string][]byte{"version 9": append([]byte{9}, data[1:]...), "trailing byte": append(slices.Clone(data), 0)}
		for i := range len(data) {
			bad[fmt.Sprintf("cut at %d", i)] = data[:i]
		}
		for what, b := range bad {
			err := begin().Add(key, b)
			if err == nil {
				t.Fatalf("row %q, %s: no error", key, what)
			}
			if !strings.Contains(err.Error(), strconv.Quote(key)) {
				t.Fatalf("row %q, %s: error %q does not name the row", key, what, err)
			}
		}
		// Flipped bytes may still decode, but must not panic.
		rng := rand.New(rand.NewPCG(uint64(len(data)), 1))
		for range 200 {
			b := slices.Clone(data)
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			_ = begin().Add(key, b)
		}
	}
	if !kinds['#'] || !kinds['c'] || !kinds['a'] {
		t.Fatalf("the checkpoint lacks ring, customer or account rows: %v", kinds)
	}
	for i := range len(meta) {
		if _, err := New(sigs).BeginRestore(meta[:i:i]); err == nil && i > 0 {
			t.Fatalf("meta cut at %d: no error", i)
		}
	}
	if _, err := New(sigs).BeginRestore(append([]byte{9}, meta[1:]...)); err == nil {
		t.Fatal("meta of layout 9: no error")
	}
	if err := begin().Add("#nothing/0", []byte{1}); err == nil || !strings.Contains(err.Error(), `"#nothing/0"`) {
		t.Fatalf("unknown engine-wide row: %v", err)
	}
	for key, data := range rows {
		r := begin()
		if err := r.Add(key, data); err != nil {
			t.Fatal(err)
		}
		if err := r.Add(key, data); err == nil || !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Fatalf("row %q added twice: %v", key, err)
		}
	}
	r := begin()
	for key, data := range rows {
		if key != recentPrefix+"0" {
			if err := r.Add(key, data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.Finish(); err == nil || !strings.Contains(err.Error(), `"#recent/0"`) {
		t.Fatalf("Finish without #recent/0: %v", err)
	}
}

// FuzzRestoreRow feeds arbitrary rows and metas to a restore: errors are
// fine, panics are not.
func FuzzRestoreRow(f *testing.F) {
	sigs := parseAll(f, snapshotSignals)
	e := New(sigs)
	evaluateAll(e, randomEvents(rand.New(rand.NewPCG(3, 3)), 400))
	rows := table{}
	meta := rows.apply(e)
	for key, data := range rows {
		f.Add(key, data, false)
	}
	f.Add("", meta, true)
	f.Fuzz(func(t *testing.T, key string, data []byte, isMeta bool) {
		if isMeta {
			if r, err := New(sigs).BeginRestore(data); err == nil {
				_ = r.Finish()
			}
			return
		}
		r, err := New(sigs).BeginRestore(meta)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Add(key, data); err != nil && !strings.Contains(err.Error(), strconv.Quote(key)) {
			t.Fatalf("error %q does not name the row", err)
		}
		_ = r.Finish()
	})
}

// TestChangesCostFollowsEvents warms an engine of the default pack with
// many subjects, then evaluates a few events: the checkpoint after them
// holds at most a row per subject they can have touched and per ring chunk
// their ids and links fall in, and an idle engine's holds none.
func TestChangesCostFollowsEvents(t *testing.T) {
	pack, err := deploy.Pack()
	if err != nil {
		t.Fatal(err)
	}
	signals := packVariants(t, len(pack)) // the whole pack
	events, _ := demoEvents(1<<15, 1000)
	warm, rest := events[:len(events)-200], events[len(events)-200:]
	e := New(signals)
	for i := range warm {
		e.Evaluate(&warm[i])
	}
	// Later events at one time T, W ≤ T: past the sweep due by T, so that
	// the measured events sweep nothing.
	at := warm[len(warm)-1].Time
	for i := 0; e.nextSweep <= at.UnixNano(); i++ {
		ev := rest[i%100]
		ev.ID, ev.Time = fmt.Sprintf("filler-%d", i), at
		e.Evaluate(&ev)
	}
	all := table{}
	all.apply(e)
	if n := e.ActiveSubjects(); n < 1000 {
		t.Fatalf("warm engine has %d subjects; want many", n)
	}
	if got := len(table{}.applyCount(e)); got != 0 {
		t.Fatalf("an idle engine emitted %d rows", got)
	}
	for _, k := range []int{1, 10, 100} {
		touched := map[string]bool{}
		links := 0
		for i := range k {
			ev := rest[100+i%100]
			ev.ID, ev.Time = fmt.Sprintf("measured-%d-%d", k, i), at
			c := ev.Customer
			for _, s := range []string{c.ID, c.AnonymousID, c.AccountID} {
				if s != "" {
					touched["customer:"+s], touched["account:"+s] = true, true
				}
			}
			if c.ID != "" && c.AnonymousID != "" {
				links++
			}
			e.Evaluate(&ev)
		}
		// k new ids touch at most two chunks per 1024; links as many.
		bound := len(touched) + 2*(k/ringChunk+1) + links
		rows := table{}.applyCount(e)
		if len(rows) == 0 || len(rows) > bound {
			t.Errorf("%d events: %d rows changed, want 1 to %d", k, len(rows), bound)
		}
		size := 0
		for _, d := range rows {
			size += len(d)
		}
		t.Logf("%d events: %d rows, %d bytes", k, len(rows), size)
	}
}

// applyCount is apply, returning the rows emitted.
func (t table) applyCount(e *Engine) table {
	got := table{}
	e.Changes(func(key string, data []byte) { got[key] = data })
	return got
}
