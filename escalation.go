package dowser

import "time"

// The steps of an alert's follow-up, in order: after its follow-up time
// unacknowledged, an alert goes to the managers following its rep; after
// as long again, to the next rep of the account's territory rules.
const (
	EscalateToManagers  = "managers"
	EscalateToTerritory = "territory"
)

// EscalationSteps lists the steps' kinds: step n is EscalationSteps()[n-1].
func EscalationSteps() []string { return []string{EscalateToManagers, EscalateToTerritory} }

// EscalationStep is a step taken in an alert's follow-up: to whom (none
// when there was nobody to take it to), when and why.
type EscalationStep struct {
	AlertID string `json:"alert_id"`
	// Step counts from 1; Kind is EscalateToManagers or
	// EscalateToTerritory.
	Step   int       `json:"step"`
	Kind   string    `json:"kind"`
	To     []string  `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Priority is the alert's, for metrics.
	Priority string `json:"-"`
}

// PendingEscalation is an alert whose follow-up is due for a decision: its
// first deadline is not computed yet, or its next step is due.
type PendingEscalation struct {
	AlertID  string
	RepID    string
	Priority string
	// CreatedAt is when the alert was stored: the follow-up time counts
	// from there.
	CreatedAt time.Time
	// NextStep is the step to take next (1 first); NextAt when, nil until
	// it is computed.
	NextStep int
	NextAt   *time.Time
	// Acked is true once any recipient acknowledged the alert or gave a
	// verdict on it.
	Acked bool
	// Calendar is the rep's.
	Calendar Calendar
}

// EscalationSetAside is a follow-up that the store stopped because it can
// never be carried out (its alert's or its rep's stored rows are
// inconsistent), so that the others go on; Reason is recorded as its stop
// reason.
type EscalationSetAside struct {
	AlertID string
	Reason  string
}

// EscalationPlan is what to do with a pending escalation: stop it (Stop
// says why), take step Step now (Reason says why) and look again at
// NextAt (zero: that was the last step), or only look again at NextAt.
type EscalationPlan struct {
	Stop   string
	Step   int
	Reason string
	NextAt time.Time
}
