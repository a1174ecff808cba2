package dowser

import (
	"encoding/json"
	"time"
)

// Team is what the reps a manager follows did with their alerts since a
// time: the manager's team view.
type Team struct {
	Manager string    `json:"manager"`
	Since   time.Time `json:"since"`
	// Reps are the reps the manager follows, by name.
	Reps []TeamRep `json:"reps"`
}

// TeamRep is one followed rep and what they did with the alerts delivered
// to them since the team's time.
type TeamRep struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Alerts counts the alerts delivered to the rep; Acked those
	// acknowledged (a verdict acknowledges), Verdicts those given a
	// verdict, and Unacted those not acknowledged yet (snoozed ones too).
	Alerts   int64 `json:"alerts"`
	Acked    int64 `json:"acked"`
	Verdicts int64 `json:"verdicts"`
	Unacted  int64 `json:"unacted"`
	// MedianAckSeconds and MedianVerdictSeconds are the medians of the
	// time from delivery to acknowledgement and to verdict; nil when
	// there is none.
	MedianAckSeconds     *float64 `json:"median_ack_seconds"`
	MedianVerdictSeconds *float64 `json:"median_verdict_seconds"`
}

// TeamAlert is an alert delivered to a followed rep, with what the rep did
// with it and how fast.
type TeamAlert struct {
	Rep         string     `json:"rep"`
	RepName     string     `json:"rep_name"`
	DeliveredAt time.Time  `json:"delivered_at"`
	AckedAt     *time.Time `json:"acked_at,omitempty"`
	// AckSeconds and VerdictSeconds are the times from delivery to the
	// acknowledgement and to the verdict.
	AckSeconds     *float64   `json:"ack_seconds,omitempty"`
	Verdict        string     `json:"verdict,omitempty"`
	Reason         string     `json:"reason,omitempty"`
	Value          *float64   `json:"value,omitempty"`
	VerdictAt      *time.Time `json:"verdict_at,omitempty"`
	VerdictSeconds *float64   `json:"verdict_seconds,omitempty"`
	// SnoozedUntil is when the rep's snooze ends, while it has not.
	SnoozedUntil *time.Time      `json:"snoozed_until,omitempty"`
	Alert        json.RawMessage `json:"alert"`
	// Cursor is where the listing stood at this alert; not encoded.
	Cursor TeamCursor `json:"-"`
}

// Team listings: the alerts nobody acknowledged yet, or those acted on,
// most recently acted first.
const (
	TeamUnacted = "unacted"
	TeamActed   = "acted"
)

// TeamQuery selects a page of the alerts of the reps a manager follows.
type TeamQuery struct {
	ManagerID string
	// Since bounds the deliveries listed and counted: delivered at or
	// after it.
	Since time.Time
	// State is TeamUnacted (newest delivery first) or TeamActed (latest
	// acknowledgement first).
	State string
	// After continues a listing past its previous page's last alert.
	After *TeamCursor
	Limit int
}

// TeamCursor is a position in a team listing: the time it is ordered by
// (delivery or acknowledgement), then the rep and their sequence.
type TeamCursor struct {
	At     time.Time
	UserID string
	Seq    int64
}

// TeamPage is one page of a team listing; Next is nil on the last page.
type TeamPage struct {
	Alerts []TeamAlert
	Next   *TeamCursor
}

// Followable is a rep a manager may follow, and whether they do.
type Followable struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Followed bool   `json:"followed"`
}

// VerdictGiven is the news that a recipient gave an alert a verdict, as
// stored, or (Acked) acknowledged it: told to the recipient's other panels
// and to the managers who follow them, on every instance.
type VerdictGiven struct {
	AlertID string
	UserID  string
	// Acked marks the news of an acknowledgement alone, made when the
	// alert was not acknowledged before: Verdict, Reason and Value are
	// empty. A verdict acknowledges too, without this news.
	Acked   bool
	Verdict string
	Reason  string
	Value   *float64
	// From names the stream connection that gave the verdict (or the
	// acknowledgement), which hears its answer instead of the news; ""
	// when given otherwise (REST, a link, the demo's simulated reps).
	From string
}
