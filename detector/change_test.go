package detector

import (
	"fmt"
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
