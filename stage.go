package dowser

import (
	"strconv"
	"time"
)

// MaxStages bounds the stages of a model, and MaxStageSignals the signals
// that move an account into one stage.
const (
	MaxStages       = 20
	MaxStageSignals = 100
)

// Stage is one named step on the way to sales-ready. An alert of one of
// Signals moves its account into the stage, unless the account is at a
// later stage already: accounts only move forward.
type Stage struct {
	ID      string   `json:"id"`
	Label   string   `json:"label"`
	Signals []string `json:"signals"`
}

// StageModel is the ordered stages marketing and sales agreed on, earliest
// first. Every save is a new version; the newest is in force. Accepted
// names the stage an accepted handoff moves the account into ("" when
// accepting moves nothing).
type StageModel struct {
	Version  int       `json:"version"`
	Stages   []Stage   `json:"stages"`
	Accepted string    `json:"accepted_stage"`
	SavedBy  string    `json:"saved_by,omitempty"`
	SavedAt  time.Time `json:"saved_at"`
}

// Validate checks the stages (ids, labels, signal ids, no stage or signal
// twice) and that Accepted names one of them; version and authorship are
// the store's.
func (m StageModel) Validate() error {
	var p Problems
	if len(m.Stages) > MaxStages {
		p.Add(fieldErrorf("stages", "has %d stages; at most %d", len(m.Stages), MaxStages))
		return p.Err()
	}
	stages := map[string]bool{}
	signals := map[string]string{}
	for i, st := range m.Stages {
		at := "stages[" + strconv.Itoa(i) + "]"
		if fe := CheckID(at+".id", st.ID); fe != nil {
			p.Add(fe)
		} else if stages[st.ID] {
			p.Add(fieldErrorf(at+".id", "%s is the id of an earlier stage", quoteShort(st.ID)))
		}
		stages[st.ID] = true
		if st.Label == "" {
			p.Add(fieldErrorf(at+".label", "is required"))
		} else {
			p.Add(CheckText(at+".label", st.Label, MaxNameLen))
		}
		if len(st.Signals) > MaxStageSignals {
			p.Add(fieldErrorf(at+".signals", "has %d signals; at most %d", len(st.Signals), MaxStageSignals))
			continue
		}
		for j, sig := range st.Signals {
			f := at + ".signals[" + strconv.Itoa(j) + "]"
			if fe := CheckID(f, sig); fe != nil {
				p.Add(fe)
			} else if prev, ok := signals[sig]; ok {
				// One signal moving to two stages would make the move
				// depend on which the store looked at first.
				p.Add(fieldErrorf(f, "%s already moves accounts into stage %s", quoteShort(sig), quoteShort(prev)))
			} else {
				signals[sig] = st.ID
			}
		}
	}
	if m.Accepted != "" && !stages[m.Accepted] {
		p.Add(fieldErrorf("accepted_stage", "%s is not one of the stages", quoteShort(m.Accepted)))
	}
	return p.Err()
}

// Causes of a stage transition.
const (
	// MovedBySignal: an alert of one of the stage's signals was stored.
	MovedBySignal = "signal"
	// MovedByHandoff: a rep accepted the handoff of an alert.
	MovedByHandoff = "handoff"
)

// StageTransition is one move of an account into a stage, tied to the
// alert that caused it: each alert moves an account at most once per
// cause, so a replayed event cannot move it twice.
type StageTransition struct {
	From         string    `json:"from,omitempty"`
	To           string    `json:"to"`
	AlertID      string    `json:"alert_id"`
	SignalID     string    `json:"signal_id"`
	Cause        string    `json:"cause"`
	By           string    `json:"by,omitempty"`
	ModelVersion int       `json:"model_version"`
	At           time.Time `json:"at"`
}

// AccountStage is where an account stands, and how it got there, newest
// transition first. Stage is "" for an account no alert has moved yet.
type AccountStage struct {
	AccountID   string            `json:"account_id"`
	Stage       string            `json:"stage"`
	Since       *time.Time        `json:"since,omitempty"`
	Transitions []StageTransition `json:"transitions"`
}

// Handoff decisions a rep makes on an alert.
const (
	HandoffAccept = "accept"
	HandoffReject = "reject"
)

// Handoff is a rep's acceptance or rejection of the account an alert hands
// to sales, with a reason from the feedback reasons the marketers keep
// (required to reject, optional to accept) and a note.
type Handoff struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason,omitempty"`
	Note     string `json:"note,omitempty"`
}

// Validate checks the handoff's fields on their own; that the reason is
// an active one is the store's to check.
func (h Handoff) Validate() error {
	var p Problems
	switch h.Decision {
	case HandoffAccept, HandoffReject:
	case "":
		p.Add(fieldErrorf("decision", "is required (accept or reject)"))
	default:
		p.Add(fieldErrorf("decision", "%s is not accept or reject", quoteShort(h.Decision)))
	}
	if h.Reason != "" {
		p.Add(CheckID("reason", h.Reason))
	} else if h.Decision == HandoffReject {
		p.Add(fieldErrorf("reason", "is required to reject (one of the feedback reasons)"))
	}
	p.Add(CheckText("note", h.Note, MaxNoteLen))
	return p.Err()
}

// HandoffOutcome is what the reps did with the handoffs of one signal, or
// of one rep: how many alerts were handed off, accepted and rejected, and
// how long an acceptance took.
type HandoffOutcome struct {
	// Key is the signal id or the user id.
	Key string `json:"key"`
	// Name is the rep's name (reps only).
	Name     string `json:"name,omitempty"`
	Handed   int64  `json:"handed"`
	Accepted int64  `json:"accepted"`
	Rejected int64  `json:"rejected"`
	// AcceptanceRate is Accepted over the decided handoffs; nil when
	// none was decided.
	AcceptanceRate *float64 `json:"acceptance_rate"`
	// MedianAcceptSeconds is the median time from the alert to its
	// acceptance; nil when none was accepted.
	MedianAcceptSeconds *float64 `json:"median_accept_seconds"`
}

// HandoffReport is the acceptance of handoffs over the last Weeks weeks,
// per signal and per rep.
type HandoffReport struct {
	Weeks   int              `json:"weeks"`
	Since   time.Time        `json:"since"`
	Signals []HandoffOutcome `json:"signals"`
	Reps    []HandoffOutcome `json:"reps"`
}

// MaxHandoffLookup bounds the alerts one read of decisions names.
const MaxHandoffLookup = 200

// HandoffDecision is a recipient's decision on one alert's handoff, as
// stored.
type HandoffDecision struct {
	AlertID string `json:"alert_id"`
	Handoff
	DecidedAt time.Time `json:"decided_at"`
}
