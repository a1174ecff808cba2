package detector

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

func TestChange(t *testing.T) {
	const (
		d    = 24 * time.Hour
		week = 7 * d
	)
	doc := `
id: surge
owner: o
scope: account
when:
  change:
    match: {type: support_email}
    period: 7d
    baseline: 4
    rise: 3
    min_count: 2
%s`
	if t0.Weekday() != time.Monday || t0.Hour() != 7 {
		t.Fatalf("t0 %v: the cases expect a Monday, 07:00 UTC", t0)
	}
	monday := t0.Add(-7 * time.Hour) // the current period starts here
	n := 0
	email := func(at time.Time) *schema.Event {
		n++
		return &schema.Event{ID: fmt.Sprint("m", n), Type: "support_email", Time: at,
			Customer: schema.Customer{ID: "c-1", AccountID: "acme"}}
	}
	// weekly returns one email in each of the weeks before monday, the
	// nearest first.
	weekly := func(weeks ...int) []*schema.Event {
		var out []*schema.Event
		for _, w := range weeks {
			out = append(out, email(monday.Add(-time.Duration(w)*week+d)))
		}
		return out
	}
	tests := []struct {
		name  string
		extra string
		base  []*schema.Event
		now   []time.Duration // this week's emails, after monday
		want  []int           // indexes into now that fire
	}{
		{"three times the average fires", "", weekly(1, 2, 3, 4), []time.Duration{d, 2 * d, 3 * d}, []int{2}},
		{"twice does not", "", weekly(1, 2, 3, 4), []time.Duration{d, 2 * d}, nil},
		{"no baseline, no rate to rise from", "", nil, []time.Duration{d, 2 * d, 3 * d, 4 * d}, nil},
		{"weeks before the baseline do not count", "", weekly(5, 5, 5, 5), []time.Duration{d, 2 * d, 3 * d}, nil},
		{"min_count holds back a rise from a small average", "", weekly(2), []time.Duration{d, 2 * d}, []int{1}},
		{"Sunday 23:59 is last week", "", weekly(1, 2, 3, 4), []time.Duration{-time.Minute, d, 2 * d, 3 * d}, nil},
		{"the cooldown holds back the next", "", weekly(1, 2, 3, 4), []time.Duration{d, 2 * d, 3 * d, 4 * d}, []int{2}},
		{"without a cooldown each one fires", "cooldown: 0s", weekly(1, 2, 3, 4), []time.Duration{d, 2 * d, 3 * d, 4 * d}, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New([]*Signal{mustParse(t, fmt.Sprintf(doc, tt.extra))})
			for _, ev := range tt.base {
				if a := e.Evaluate(ev); len(a) != 0 {
					t.Fatalf("the baseline fired: %v", a)
				}
			}
			var got []int
			for i, at := range tt.now {
				if a := e.Evaluate(email(monday.Add(at))); len(a) > 0 {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fired at %v, want %v", got, tt.want)
			}
		})
	}

	// The alert: count, ratio as .Score, the triggering event as evidence.
	e := New([]*Signal{mustParse(t, fmt.Sprintf(doc, `message: "{{.Count}} emails, {{printf \"%.1f\" .Score}}x"`))})
	for _, ev := range weekly(1, 2, 3, 4, 1) { // weeks 1 to 4, week 1 twice: average 1.25
		e.Evaluate(ev)
	}
	var a []schema.Alert
	for i := range 4 {
		a = append(a, e.Evaluate(email(monday.Add(time.Duration(i+1)*time.Hour)))...)
	}
	if len(a) != 1 || a[0].Count != 4 || a[0].Message != "4 emails, 3.2x" || len(a[0].Evidence) != 1 || a[0].Evidence[0].EventID != a[0].EventID {
		t.Errorf("got %+v", a)
	}
	// A late email is counted in its own week, two weeks ago, against
	// that week's baseline (weeks 3 to 6 ago: 2 emails, average 0.5).
	if got := e.Evaluate(email(monday.Add(-week - time.Hour))); len(got) != 1 || got[0].Count != 2 {
		t.Errorf("a late email: got %v, want it to fire with 2 in its week", got)
	}
}

func TestChangeKeepsACountPerPeriod(t *testing.T) {
	s := mustParse(t, `
id: busy
owner: o
when:
  change: {match: {type: page_view}, period: 1d, baseline: 7, rise: 2}
`)
	e := New([]*Signal{s})
	for i := range 2000 {
		e.Evaluate(view(fmt.Sprint("v", i), time.Duration(i)*7*time.Minute))
	}
	st := e.programs[0].states["customer:c-1"]
	// 2000 views over about 9.7 days: one record per day kept.
	if st == nil || len(st.records) > 10 {
		t.Fatalf("kept %d records, want one per period", len(st.records))
	}
}

// TestChangeFall: a fall is decided when a period closes (W reaches the
// next period's start), against the baseline before it, also for a
// period with no event at all; once; across a restore and while cold.
func TestChangeFall(t *testing.T) {
	const (
		d    = 24 * time.Hour
		week = 7 * d
	)
	doc := `
id: drop
owner: o
scope: account
when:
  change:
    match: {type: page_view}
    period: 7d
    baseline: 2
    fall: 0.5
`
	monday := t0.Add(-7 * time.Hour)
	n := 0
	use := func(at time.Time) *schema.Event {
		n++
		return &schema.Event{ID: fmt.Sprint("u", n), Type: "page_view", Time: at,
			Customer: schema.Customer{ID: "c-1", AccountID: "acme"}}
	}
	// baseline: four uses in each of the two weeks before monday.
	setup := func(e *Engine, now int) {
		n = 0 // the same ids every time
		for w := 2; w >= 1; w-- {
			for i := range 4 {
				e.Evaluate(use(monday.Add(-time.Duration(w)*week + time.Duration(i)*time.Hour)))
			}
		}
		for i := range now {
			e.Evaluate(use(monday.Add(d + time.Duration(i)*time.Hour)))
		}
	}
	times := func(as []schema.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, fmt.Sprintf("%s/%d", a.Time.Sub(monday), a.Count))
		}
		return out
	}
	for _, tt := range []struct {
		now  int
		want []string
	}{
		// Half the average fires at the close; the weeks after, with no
		// use, fall too, while their baselines have uses.
		{2, []string{"168h0m0s/2", "336h0m0s/0", "504h0m0s/0"}},
		{3, []string{"336h0m0s/0", "504h0m0s/0"}},
		// Stopped: this week, and next (its baseline has this week's zero).
		{0, []string{"168h0m0s/0", "336h0m0s/0"}},
	} {
		e := New([]*Signal{mustParse(t, doc)})
		setup(e, tt.now)
		if got := e.Advance(monday.Add(week - 1)); len(got) != 0 {
			t.Fatalf("%d uses: fired before the week closed: %v", tt.now, times(got))
		}
		got := times(e.Advance(monday.Add(week)))
		got = append(got, times(e.Advance(monday.Add(10*week)))...)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%d uses this week: got %v, want %v", tt.now, got, tt.want)
		}
		if again := e.Advance(monday.Add(20 * week)); len(again) != 0 {
			t.Errorf("%d uses: fired again: %v", tt.now, times(again))
		}
	}

	// Across a checkpoint and restore (every subject cold), and while
	// cold, it fires the same alert at the close.
	sigs := []*Signal{mustParse(t, doc)}
	ref := New(sigs)
	setup(ref, 2)
	want := ref.Advance(monday.Add(week))
	if len(want) != 1 {
		t.Fatalf("reference: %v", times(want))
	}
	e := New(sigs)
	e.SetColdAfter(1)
	setup(e, 2)
	rows := table{}
	var meta []byte
	for range 3 {
		meta = rows.apply(e)
	}
	if c, _ := e.ColdSubjects(); c != 1 {
		t.Fatalf("%d subjects cold, want 1", c)
	}
	r := restoreRows(t, rand.New(rand.NewPCG(5, 6)), sigs, e, meta, rows)
	for name, eng := range map[string]*Engine{"cold": e, "restored": r} {
		got := eng.Advance(monday.Add(week))
		if len(got) != 1 || got[0].ID != want[0].ID || !got[0].Time.Equal(want[0].Time) {
			t.Errorf("%s: got %v, want %v", name, times(got), times(want))
		}
		// A late use in the closed week changes nothing.
		if late := eng.Evaluate(use(monday.Add(2 * d))); len(late) != 0 {
			t.Errorf("%s: a late use fired %v", name, times(late))
		}
	}
}

// TestChangeFallLateSubject: periods that closed before a subject's first
// (late) events reached the engine are not decided, whether the engine
// ran on or was restored in between.
func TestChangeFallLateSubject(t *testing.T) {
	const week = 7 * 24 * time.Hour
	sigs := []*Signal{mustParse(t, `
id: drop
owner: o
when: {change: {match: {type: page_view}, period: 7d, baseline: 2, fall: 0.5}}
`)}
	monday := t0.Add(-7 * time.Hour)
	e := New(sigs)
	e.Advance(monday.Add(2 * week)) // a pass
	e.Advance(monday.Add(3 * week)) // W moves on, no pass due
	for i := range 8 {
		// Weeks 0 and 1 busy, week 2 quiet: its close at 3 weeks is no
		// later than W when the subject comes.
		at := monday.Add(time.Duration(i) * 40 * time.Hour)
		e.Evaluate(&schema.Event{ID: fmt.Sprint("l", i), Type: "page_view", Time: at, Customer: schema.Customer{ID: "c-1"}})
	}
	rows := table{}
	meta := rows.apply(e)
	r := restoreRows(t, rand.New(rand.NewPCG(7, 8)), sigs, e, meta, rows)
	// Week 2 closed at 3 weeks, before; week 3 (baseline weeks 1 and 2:
	// 3 uses) closes at 4 weeks and falls; week 4's baseline is empty.
	for name, eng := range map[string]*Engine{"ran on": e, "restored": r} {
		got := eng.Advance(monday.Add(10 * week))
		if len(got) != 1 || !got[0].Time.Equal(monday.Add(4*week)) {
			var at []time.Time
			for _, a := range got {
				at = append(at, a.Time)
			}
			t.Errorf("%s: alerts at %v, want one at the close of week 3 only", name, at)
		}
	}
}
