package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Priority values of a signal and its alerts, lowest first.
const (
	PriorityLow    = "low"
	PriorityMedium = "medium"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Evidence is the compact record of one event that contributed to an alert:
// enough for a rep to see what happened and for routing to find content
// owners, without carrying the whole event (no e-mail bodies).
type Evidence struct {
	EventID    string    `json:"event_id"`
	Type       string    `json:"type"`
	Time       time.Time `json:"time"`
	CustomerID string    `json:"customer_id,omitempty"`
	ContentID  string    `json:"content_id,omitempty"`
	URL        string    `json:"url,omitempty"`
	Title      string    `json:"title,omitempty"`
	Subject    string    `json:"subject,omitempty"`
}

// EvidenceOf extracts the evidence record of an event.
func EvidenceOf(e *Event) Evidence {
	title := e.Prop("title")
	return Evidence{
		EventID:    e.ID,
		Type:       e.Type,
		Time:       e.Time,
		CustomerID: e.Customer.Key(),
		ContentID:  e.ContentID,
		URL:        e.Prop("url"),
		Title:      title,
		Subject:    e.Prop("subject"),
	}
}

// Alert is what a signal emits when it fires. Its ID is deterministic, so the
// same firing processed twice is the same alert.
type Alert struct {
	ID            string `json:"id"`
	SignalID      string `json:"signal_id"`
	SignalVersion int    `json:"signal_version"`
	SignalName    string `json:"signal_name"`
	SignalOwner   string `json:"signal_owner"`
	// Subject is "customer:<id>" or "account:<id>": whose behaviour fired.
	Subject    string `json:"subject"`
	CustomerID string `json:"customer_id"`
	AccountID  string `json:"account_id,omitempty"`
	// AccountName is the account's name in the directory, filled in when
	// the alert is stored; "" when the directory has none.
	AccountName string `json:"account_name,omitempty"`
	// Rep is the sales rep routing chose (the id of a user), and RepName
	// their name, filled in when the alert is stored; "" for none.
	Rep       string `json:"rep,omitempty"`
	RepName   string `json:"rep_name,omitempty"`
	Lifecycle string `json:"lifecycle,omitempty"`
	Priority  string `json:"priority"`
	Message   string `json:"message"`
	// Count is the number of matching events in the window when it fired.
	Count int `json:"count"`
	// EventID and Time are those of the triggering event.
	EventID  string     `json:"event_id"`
	Time     time.Time  `json:"time"`
	Evidence []Evidence `json:"evidence"`
	// Escalations are the follow-up steps taken because nobody
	// acknowledged the alert in time, added to the stored alert as they
	// happen; absent for none.
	Escalations []Escalation `json:"escalations,omitempty"`
}

// Escalation is a follow-up step of an alert: to whom (none when there
// was nobody to take it to), when and why.
type Escalation struct {
	Step   int       `json:"step"`
	Kind   string    `json:"kind"`
	To     []string  `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// AlertID derives the deterministic alert id from what identifies one firing.
func AlertID(signalID string, version int, subject, eventID string) string {
	h := sha256.New()
	for _, s := range []string{signalID, strconv.Itoa(version), subject, eventID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "al-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// AlertMessage is the value of a message on the alerts topic: a stored
// alert and its numbered deliveries, which every instance pushes to the
// sockets it holds.
type AlertMessage struct {
	AlertID string `json:"alert_id"`
	// EventTime is the triggering event's time, for delivery latency.
	EventTime  time.Time       `json:"event_time"`
	Alert      json.RawMessage `json:"alert"`
	Deliveries []Recipient     `json:"deliveries"`
}

// NewAlertMessage is the alerts-topic message of a stored alert: its id,
// triggering event time and JSON document, and the deliveries its
// transaction numbered, in the order given (SaveAlert gives them by user
// id). No deliveries encode as null, as they always have on the topic.
func NewAlertMessage(alertID string, eventTime time.Time, alert json.RawMessage, deliveries []Delivery) AlertMessage {
	m := AlertMessage{AlertID: alertID, EventTime: eventTime, Alert: alert}
	if len(deliveries) > 0 {
		m.Deliveries = make([]Recipient, len(deliveries))
		for i, d := range deliveries {
			m.Deliveries[i] = Recipient{UserID: d.UserID, Seq: d.Seq}
		}
	}
	return m
}

// Encode returns the message's value on the alerts topic. The field names
// are the contract every instance of a fleet reads, old and new alike:
// {"alert_id", "event_time", "alert", "deliveries": [{"user", "seq"}]}.
func (m *AlertMessage) Encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding the message of alert %s: %w", m.AlertID, err)
	}
	return b, nil
}

// Recipient is one user's place in an AlertMessage.
type Recipient struct {
	UserID string `json:"user"`
	Seq    int64  `json:"seq"`
}

// Expand returns one Delivery per recipient of the message.
func (m *AlertMessage) Expand() []Delivery {
	out := make([]Delivery, len(m.Deliveries))
	for i, r := range m.Deliveries {
		out[i] = Delivery{UserID: r.UserID, Seq: r.Seq, AlertID: m.AlertID, Alert: m.Alert, EventTime: m.EventTime}
	}
	return out
}

// Delivery is one alert addressed to one user, numbered by that user's
// durable, gap-free sequence: the unit the websocket stream sends and
// resumes by.
type Delivery struct {
	UserID  string
	Seq     int64
	AlertID string
	// Alert is the alert's JSON document.
	Alert json.RawMessage
	// Acked and Verdict are what the user has done with it so far: a
	// replayed delivery carries them, so a reloaded panel shows them.
	Acked   bool
	Verdict string
	// EventTime is the triggering event's time on a live delivery, zero on
	// a replayed one: what delivery latency is measured from.
	EventTime time.Time
}
