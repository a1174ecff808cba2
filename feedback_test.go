package dowser_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

func TestSuggest(t *testing.T) {
	for _, c := range []struct {
		name    string
		o       dowser.Outcomes
		reasons []dowser.ReasonCount
		want    string // change, or "" for none
	}{
		{"too few verdicts", dowser.Outcomes{NotUseful: 4}, nil, ""},
		{"mostly useful", dowser.Outcomes{Useful: 3, Won: 1, NotUseful: 3}, nil, ""},
		{"wrong person", dowser.Outcomes{Useful: 1, NotUseful: 5}, []dowser.ReasonCount{{Reason: "wrong-person", NotUseful: 3}, {Reason: "timing", NotUseful: 2}}, "narrow_audience"},
		{"timing", dowser.Outcomes{Useful: 1, NotUseful: 5}, []dowser.ReasonCount{{Reason: "wrong-person", NotUseful: 1}, {Reason: "timing", NotUseful: 4}}, "raise_count"},
		{"no reasons", dowser.Outcomes{NotUseful: 5}, nil, "raise_count"},
	} {
		s := dowser.SignalImpact{Weeks12: c.o, Reasons: c.reasons}.Suggest()
		got := ""
		if s != nil {
			got = s.Change
			if !strings.Contains(s.Text, "% of verdicts") {
				t.Errorf("%s: text %q does not give the useful share", c.name, s.Text)
			}
		}
		if got != c.want {
			t.Errorf("%s: Suggest() = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestVerdictValidate(t *testing.T) {
	v := 10.0
	for _, c := range []struct {
		v    dowser.Verdict
		want string // the fields refused
	}{
		{dowser.Verdict{Verdict: "won", Reason: "competitor", Value: &v, Note: "ok"}, ""},
		{dowser.Verdict{Verdict: "useful", Reason: "timing", Value: &v}, "reason,value"},
		{dowser.Verdict{Verdict: "", Note: strings.Repeat("x", dowser.MaxNoteLen+1)}, "verdict,note"},
	} {
		var got []string
		if p, ok := c.v.Validate().(dowser.Problems); ok {
			for _, fe := range p {
				got = append(got, fe.Field)
			}
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("%+v: refused %v, want %s", c.v, got, c.want)
		}
	}
}

func TestFeedbackReasonKinds(t *testing.T) {
	for _, c := range []struct {
		kinds []string
		want  string // the fields refused
	}{
		{nil, ""}, // the stored ones, or all
		{[]string{"reject", "won"}, ""},
		{[]string{}, "kinds"},
		{[]string{"useful", "won", "won"}, "kinds[0],kinds[2]"},
	} {
		r := dowser.FeedbackReason{ID: "x", Label: "X", Kinds: c.kinds}
		var got []string
		if p, ok := r.Validate().(dowser.Problems); ok {
			for _, fe := range p {
				got = append(got, fe.Field)
			}
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("kinds %q: refused %v, want %s", c.kinds, got, c.want)
		}
	}
	r := dowser.FeedbackReason{ID: "wrong-person", Kinds: []string{dowser.VerdictNotUseful, dowser.HandoffReject}}
	if !r.Fits(dowser.HandoffReject) || r.Fits(dowser.VerdictWon) {
		t.Errorf("%+v fits reject %v and won %v, want only reject", r, r.Fits(dowser.HandoffReject), r.Fits(dowser.VerdictWon))
	}
	err := r.Misfit(dowser.VerdictWon)
	want := `reason "wrong-person" does not fit a won verdict; it is given with a not_useful verdict or a rejected handoff`
	if !errors.Is(err, dowser.ErrReasonMisfit) || err.Error() != want {
		t.Errorf("Misfit(won) = %v, want %s wrapping ErrReasonMisfit", err, want)
	}
}

func TestWeekStart(t *testing.T) {
	sun := time.Date(2026, 12, 6, 23, 0, 0, 0, time.FixedZone("x", -3600)) // Monday 00:00 UTC
	if got, want := dowser.WeekStart(sun), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("WeekStart(%v) = %v, want %v", sun, got, want)
	}
}
