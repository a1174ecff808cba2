package dowser

import (
	"encoding/json"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// ListedAlert is an alert as listed over REST, with the viewer's delivery
// state when it was addressed to them.
type ListedAlert struct {
	Seq     int64  `json:"seq,omitempty"`
	Acked   bool   `json:"acked"`
	Verdict string `json:"verdict,omitempty"`
	// Reason, Note and Value are the viewer's verdict's reason, note and
	// (for a win) opportunity value, when they gave them.
	Reason string   `json:"reason,omitempty"`
	Note   string   `json:"note,omitempty"`
	Value  *float64 `json:"value,omitempty"`
	// SnoozedUntil is when the viewer's snooze ends, while it has not.
	SnoozedUntil *time.Time      `json:"snoozed_until,omitempty"`
	Alert        json.RawMessage `json:"alert"`
	// Links lead to the alert's account and person in the CRM, when
	// configured.
	Links *AlertLinks `json:"links,omitempty"`
	// Person is who the alert's person is, read when listed, when the
	// identity setting, their consent and do-not-track allow more than
	// the customer id.
	Person *Person `json:"person,omitempty"`
	// Cursor is where the listing stood at this alert; AccountID and
	// CustomerID are the alert's. None is encoded.
	Cursor     AlertCursor `json:"-"`
	AccountID  string      `json:"-"`
	CustomerID string      `json:"-"`
}

// AlertLinks are links out of Dowser for an alert; empty when not
// configured.
type AlertLinks struct {
	CRMAccount string `json:"crm_account,omitempty"`
	CRMContact string `json:"crm_contact,omitempty"`
}

// States of an alert for its recipient, as GET /v1/alerts filters them.
const (
	// AlertNew is neither acknowledged nor snoozed now.
	AlertNew = "new"
	// AlertAcked is acknowledged (a verdict acknowledges too).
	AlertAcked = "acked"
	// AlertSnoozed is snoozed until a time still to come.
	AlertSnoozed = "snoozed"
	// AlertJudged carries a verdict.
	AlertJudged = "verdict"
)

// AlertQuery selects a page of alerts, newest first. Zero fields select
// everything.
type AlertQuery struct {
	// UserID lists the alerts addressed to the user; "" lists every alert
	// (admins), which knows no delivery state.
	UserID    string
	AccountID string
	// AccountSearch selects the alerts whose account's id or name (the
	// directory's, or the one stored with the alert) contains it,
	// ignoring case; for a name typed into a filter.
	AccountSearch string
	SignalID      string
	// Priorities lists the priorities wanted; empty is any.
	Priorities []string
	// From and To bound the alert's time (its triggering event's):
	// From <= time < To.
	From, To time.Time
	// State is one of AlertNew, AlertAcked, AlertSnoozed, AlertJudged, or
	// "" for any alert not snoozed now. It needs UserID.
	State string
	// After continues a listing past the cursor of its previous page's
	// last alert; nil starts at the newest.
	After *AlertCursor
	Limit int
}

// AlertCursor is a position in a listing: a recipient's sequence (which
// only grows, in commit order), or for every alert the creation time and
// id. Alerts stored after a listing began are never in its later pages.
type AlertCursor struct {
	Seq     int64
	Created time.Time
	ID      string
}

// AlertPage is one page of a listing; Next is nil on the last page.
type AlertPage struct {
	Alerts []ListedAlert
	Next   *AlertCursor
}

// Precision is what the recipients of a signal's alerts did with them: the
// marketers' measure of whether a signal is worth keeping.
type Precision struct {
	SignalID string `json:"signal_id"`
	// Alerts is how many alerts the signal fired (any version).
	Alerts int64 `json:"alerts"`
	// Delivered counts deliveries: one per alert and recipient.
	Delivered int64 `json:"delivered"`
	// Acked counts the deliveries acknowledged (giving a verdict
	// acknowledges too).
	Acked int64 `json:"acked"`
	// Useful, NotUseful and Won count the deliveries by verdict.
	Useful    int64 `json:"useful"`
	NotUseful int64 `json:"not_useful"`
	Won       int64 `json:"won"`
	// MedianAckSeconds is the median, over acknowledged deliveries, of the
	// time from delivery to acknowledgement; nil when none was
	// acknowledged.
	MedianAckSeconds *float64 `json:"median_ack_seconds"`
}

// SavedAlert is what storing an alert stored: the deliveries, and the
// outbox row that will carry them to the alerts topic (0 when nothing was
// stored). The outbox row is stored with its alert, so a message reaches
// the alerts topic if and only if its alert is stored.
type SavedAlert struct {
	AlertID string
	// EventTime is the triggering event's time; Alert the alert's JSON
	// document, as stored.
	EventTime  time.Time
	Alert      json.RawMessage
	Deliveries []schema.Delivery
	OutboxID   int64
}

// OutboxMessage is a stored alert not yet known to be on the alerts
// topic: its outbox row, the alert's JSON document and the deliveries its
// transaction numbered (UserID and Seq), in user id order. Payload is the
// message already encoded, in rows an older version wrote; nil otherwise.
type OutboxMessage struct {
	ID         int64
	AlertID    string
	Alert      json.RawMessage
	Deliveries []schema.Delivery
	Payload    []byte
}
