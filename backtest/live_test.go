package backtest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// TestBacktestMatchesLive: a backtest (the parallel runner, then Finish)
// fires exactly the alerts, in order, of a live partition's engine fed
// the same events with checkpoints, restarts from them (every subject
// cold afterwards) and subjects frozen between, and the end of the input
// taken as its going quiet: silences and changes included.
func TestBacktestMatchesLive(t *testing.T) {
	dir := t.TempDir()
	files := []string{
		writeFile(t, dir, "quiet.yaml", `id: webinar-quiet
owner: mkt-jane
when:
  silence:
    after: {type: webinar_signup}
    expect: [{type: page_view, url: "*/pricing*"}, {type: support_email}]
    within: 40m
`),
		writeFile(t, dir, "spike.yaml", `id: docs-spike
owner: mkt-jane
scope: account
when: {change: {match: {type: page_view, url: "*/docs/*"}, period: 1h, baseline: 3, rise: 2, min_count: 2}}
`),
		writeFile(t, dir, "slump.yaml", `id: blog-slump
owner: mkt-jane
scope: account
when: {change: {match: {type: page_view, url: "*/blog/*"}, period: 1h, baseline: 2, fall: 0.5}}
`),
	}
	extra, err := LoadSignals(files...)
	if err != nil {
		t.Fatal(err)
	}
	signals := append(testSignals(t), extra...)
	data := generated(20_000)

	var got []string
	r := NewRunner(Config{Signals: signals, Workers: 3, OnAlert: func(a *schema.Alert, _ string) error {
		got = append(got, a.ID)
		return nil
	}})
	if err := r.RunJSONL(context.Background(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}

	var want []string
	bySignal := map[string]int{}
	engine := detector.New(signals)
	engine.SetColdAfter(1)
	rows := map[string][]byte{}
	checkpoint := func() []byte {
		return engine.Changes(func(k string, v []byte) {
			if v == nil {
				delete(rows, k)
			} else {
				rows[k] = v
			}
		})
	}
	var newest time.Time
	n := 0
	emit := func(alerts []schema.Alert) {
		for _, a := range alerts {
			want = append(want, a.ID)
			bySignal[a.SignalID]++
		}
	}
	for line := range bytes.Lines(data) {
		ev, err := schema.ParseEvent(bytes.TrimSpace(line), 0)
		if err != nil {
			continue
		}
		n++
		if ev.Time.After(newest) {
			newest = ev.Time
		}
		emit(engine.Evaluate(&ev))
		if n%500 == 0 {
			meta := checkpoint()
			if n%1500 == 0 {
				// A restart from the checkpoint just written.
				engine = detector.New(signals)
				engine.SetColdAfter(1)
				rs, err := engine.BeginRestore(meta)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range rows {
					if err := rs.Add(k, v); err != nil {
						t.Fatal(err)
					}
				}
				if err := rs.Finish(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	emit(engine.Advance(newest))
	if bySignal["webinar-quiet"] < 20 || bySignal["docs-spike"] < 20 || bySignal["blog-slump"] < 20 {
		t.Fatalf("the live engine fired %v: too few silences or changes to test anything", bySignal)
	}
	t.Logf("%d alerts; by signal %v", len(want), bySignal)
	if !slices.Equal(got, want) {
		t.Errorf("the backtest fired %d alerts, the live engine %d, or in another order; first difference: %s",
			len(got), len(want), firstDifference(got, want))
	}
}

func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "one is a prefix of the other"
}
