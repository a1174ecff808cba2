package dowser

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownReason is returned when a verdict names a reason that is not
// among the active ones.
var ErrUnknownReason = errors.New("is not one of the feedback reasons offered")

// ErrReasonMisfit is returned when a verdict or a rejected handoff names
// an active reason whose kinds do not include it; see
// [FeedbackReason.Misfit].
var ErrReasonMisfit = errors.New("does not fit")

// WeekStart is the start of t's week as feedback is counted by week:
// Monday 00:00 UTC.
func WeekStart(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
}

// ExportColumns are the columns of the alerts-and-feedback export, in
// order: one row per delivery of an alert.
var ExportColumns = []string{"alert_id", "fired_at", "signal_id", "signal_version", "priority", "account_id",
	"recipient", "seen_at", "acked_at", "verdict", "reason", "value", "note", "verdict_at"}

// Verdicts a recipient can give an alert.
const (
	VerdictUseful    = "useful"
	VerdictNotUseful = "not_useful"
	VerdictWon       = "won"
)

// MaxNoteLen bounds a verdict's note, in bytes.
const MaxNoteLen = 1000

// MaxOpportunityValue bounds the opportunity value of a win, so that it
// fits the column that stores it.
const MaxOpportunityValue = 1e13

// ReasonKinds are the decisions a feedback reason can fit, in the order
// a reason lists them: a "not useful" verdict, a "won" verdict and a
// rejected handoff ([HandoffReject]).
func ReasonKinds() []string {
	return []string{VerdictNotUseful, VerdictWon, HandoffReject}
}

// FeedbackReason is one of the reasons, maintained by the marketers, that
// a rep can give with a "not useful" or "won" verdict or a rejected
// handoff, as its Kinds say. A retired reason is no longer offered but
// keeps the verdicts that named it readable.
type FeedbackReason struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	// Position orders the reasons as they are offered, lowest first.
	Position int  `json:"position"`
	Retired  bool `json:"retired"`
	// Kinds are the decisions the reason fits, among [ReasonKinds] and
	// in their order. Stored reasons have at least one; a reason saved
	// without (nil) keeps the kinds it had, or fits all when new.
	Kinds []string `json:"kinds"`
}

// Validate checks every field of the reason; a [Problems] names every
// field refused.
func (r FeedbackReason) Validate() error {
	var p Problems
	p.Add(CheckID("id", r.ID))
	if r.Label == "" {
		p.Add(fieldErrorf("label", "is required"))
	} else {
		p.Add(CheckText("label", r.Label, MaxNameLen))
	}
	p.Add(CheckInt32("position", int64(r.Position)))
	if r.Kinds != nil && len(r.Kinds) == 0 {
		p.Add(fieldErrorf("kinds", "needs at least one of not_useful, won or reject (or none given: all)"))
	}
	for i, k := range r.Kinds {
		at := "kinds[" + strconv.Itoa(i) + "]"
		switch {
		case !slices.Contains(ReasonKinds(), k):
			p.Add(fieldErrorf(at, "%s is not not_useful, won or reject", quoteShort(k)))
		case slices.Contains(r.Kinds[:i], k):
			p.Add(fieldErrorf(at, "%s is given twice", k))
		}
	}
	return p.Err()
}

// Fits reports whether the reason may be given with kind, one of
// [ReasonKinds].
func (r FeedbackReason) Fits(kind string) bool {
	return slices.Contains(r.Kinds, kind)
}

// Misfit is the error wrapping [ErrReasonMisfit] that refuses the reason
// for kind, naming both and what the reason does fit.
func (r FeedbackReason) Misfit(kind string) error {
	fits := make([]string, len(r.Kinds))
	for i, k := range r.Kinds {
		fits[i] = kindPhrase(k)
	}
	return fmt.Errorf("reason %q %w %s; it is given with %s", r.ID, ErrReasonMisfit, kindPhrase(kind), strings.Join(fits, " or "))
}

// kindPhrase names a reason kind in a sentence: "a won verdict".
func kindPhrase(kind string) string {
	if kind == HandoffReject {
		return "a rejected handoff"
	}
	return "a " + kind + " verdict"
}

// Verdict is what a recipient said of an alert: useful, not useful or
// won, with a reason from the marketers' list (for not useful and won),
// a free-text note and, for a win, the opportunity's value.
type Verdict struct {
	Verdict string   `json:"verdict"`
	Reason  string   `json:"reason,omitempty"`
	Note    string   `json:"note,omitempty"`
	Value   *float64 `json:"value,omitempty"`
}

// Validate checks the verdict's fields on their own; that the reason is
// one of the active reasons is the store's to check.
func (v Verdict) Validate() error {
	var p Problems
	switch v.Verdict {
	case VerdictUseful, VerdictNotUseful, VerdictWon:
	case "":
		p.Add(fieldErrorf("verdict", "is required (useful, not_useful or won)"))
	default:
		p.Add(fieldErrorf("verdict", "%s is not useful, not_useful or won", quoteShort(v.Verdict)))
	}
	if v.Reason != "" {
		if v.Verdict == VerdictUseful {
			p.Add(fieldErrorf("reason", "is given with not_useful or won only"))
		} else {
			p.Add(CheckID("reason", v.Reason))
		}
	}
	p.Add(CheckText("note", v.Note, MaxNoteLen))
	if v.Value != nil {
		switch {
		case v.Verdict != VerdictWon:
			p.Add(fieldErrorf("value", "is given with won only"))
		case math.IsNaN(*v.Value) || *v.Value < 0 || *v.Value >= MaxOpportunityValue:
			p.Add(fieldErrorf("value", "must be at least 0 and below %.0f", float64(MaxOpportunityValue)))
		}
	}
	return p.Err()
}

// Outcomes counts what recipients did with a set of alerts.
type Outcomes struct {
	// Alerts is how many alerts fired; Delivered how many deliveries
	// they made (one per alert and recipient).
	Alerts    int64 `json:"alerts"`
	Delivered int64 `json:"delivered"`
	// Acted counts the deliveries acknowledged or given a verdict.
	Acted int64 `json:"acted"`
	// Useful, NotUseful and Won count the deliveries by verdict.
	Useful    int64 `json:"useful"`
	NotUseful int64 `json:"not_useful"`
	Won       int64 `json:"won"`
	// Value is the sum of the opportunity values of the wins.
	Value float64 `json:"value"`
}

// UsefulRate is the share of verdicts that were useful or won; ok is
// false when there was no verdict.
func (o Outcomes) UsefulRate() (rate float64, ok bool) {
	n := o.Useful + o.NotUseful + o.Won
	if n == 0 {
		return 0, false
	}
	return float64(o.Useful+o.Won) / float64(n), true
}

// WeekOutcomes are the outcomes of the alerts fired in the week starting
// Week (a Monday, 00:00 UTC).
type WeekOutcomes struct {
	Week time.Time `json:"week"`
	Outcomes
}

// SignalImpact is what a signal did for the business: its outcomes over
// the last 4 and 12 weeks, week by week, and a suggestion when its
// verdicts say it fires too often on the wrong accounts.
type SignalImpact struct {
	SignalID string         `json:"signal_id"`
	Weeks4   Outcomes       `json:"weeks_4"`
	Weeks12  Outcomes       `json:"weeks_12"`
	Weekly   []WeekOutcomes `json:"weekly"`
	// Reasons counts the reasons given with its verdicts over 12 weeks.
	Reasons []ReasonCount `json:"reasons"`
	// Suggestion is empty when the signal does well or has too few
	// verdicts to judge.
	Suggestion *Suggestion `json:"suggestion,omitempty"`
}

// Suggestion is a change to a signal that its feedback argues for.
type Suggestion struct {
	// Change is what to change: "raise_count" or "narrow_audience".
	Change string `json:"change"`
	// Text says it in a marketer's words, with the numbers behind it.
	Text string `json:"text"`
}

// ReasonCount is how often a reason was given with each verdict.
type ReasonCount struct {
	Reason    string `json:"reason"`
	Label     string `json:"label"`
	NotUseful int64  `json:"not_useful"`
	Won       int64  `json:"won"`
}

// ContentOutcomes are the outcomes of the alerts whose evidence includes a
// content item.
type ContentOutcomes struct {
	ContentID string `json:"content_id"`
	Title     string `json:"title"`
	Outcomes
}

// FeedbackReport is what the reps' verdicts say over the last Weeks weeks
// (4 or 12): per signal (with its 4- and 12-week impact), per content
// item and per reason.
type FeedbackReport struct {
	Weeks   int               `json:"weeks"`
	Since   time.Time         `json:"since"`
	Signals []SignalImpact    `json:"signals"`
	Content []ContentOutcomes `json:"content"`
	Reasons []ReasonCount     `json:"reasons"`
}

// MinVerdictsToSuggest is how many verdicts a signal needs, over 12 weeks,
// before a suggestion is made from them.
const MinVerdictsToSuggest = 5

// Suggest returns the change the signal's 12-week outcomes argue for, or
// nil: none when at least half the verdicts were useful or won, or when
// there are fewer than MinVerdictsToSuggest. Mostly "wrong person" says
// the audience is too wide; anything else that the signal fires too
// early, so its count should rise.
func (si SignalImpact) Suggest() *Suggestion {
	o := si.Weeks12
	rate, ok := o.UsefulRate()
	if !ok || o.Useful+o.NotUseful+o.Won < MinVerdictsToSuggest || rate >= 0.5 {
		return nil
	}
	var wrong, other int64
	for _, r := range si.Reasons {
		if r.Reason == "wrong-person" {
			wrong += r.NotUseful
		} else {
			other += r.NotUseful
		}
	}
	pct := int(math.Round(rate * 100))
	if wrong > 0 && wrong >= other {
		return &Suggestion{Change: "narrow_audience", Text: fmtSuggestion(pct, o.NotUseful, wrong,
			"were the wrong person: narrow the audience (a where condition on lifecycle, title or account)")}
	}
	return &Suggestion{Change: "raise_count", Text: fmtSuggestion(pct, o.NotUseful, 0,
		"fired too early to act on: raise the count or shorten the window")}
}

func fmtSuggestion(pct int, notUseful, wrong int64, why string) string {
	s := strconv.Itoa(pct) + "% of verdicts in 12 weeks were useful; "
	if wrong > 0 {
		return s + strconv.FormatInt(wrong, 10) + " of " + strconv.FormatInt(notUseful, 10) + " not useful " + why
	}
	return s + "the " + strconv.FormatInt(notUseful, 10) + " not useful suggest it " + why
}
