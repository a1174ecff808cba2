package schema

import (
	"fmt"
	"math"
	"time"
)

// MaxEventBytes is the default upper bound on an encoded event. Anything larger
// is rejected before decoding so that one oversized message cannot balloon a
// partition's memory.
const MaxEventBytes = 64 << 10

// Customer identifies the person behind an event. At least one of ID and
// AnonymousID is set on every valid event.
type Customer struct {
	ID          string `json:"id,omitempty"`
	AnonymousID string `json:"anonymous_id,omitempty"`
	Email       string `json:"email,omitempty"`
	AccountID   string `json:"account_id,omitempty"`
	// Lifecycle is "customer" or "prospect"; empty means "look it up from the
	// account".
	Lifecycle string `json:"lifecycle,omitempty"`
}

// Key returns the identifier the detector counts a person by: the known
// customer id, else the anonymous id.
func (c Customer) Key() string {
	if c.ID != "" {
		return c.ID
	}
	return c.AnonymousID
}

// Event is one customer-behaviour event, the value of a message on the events
// topic.
type Event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Time       time.Time      `json:"time"`
	Source     string         `json:"source,omitempty"`
	Customer   Customer       `json:"customer"`
	ContentID  string         `json:"content_id,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Prop returns the string property name, or "" when it is absent or not a
// string.
func (e *Event) Prop(name string) string {
	s, _ := e.Properties[name].(string)
	return s
}

// Built-in event types. Other lowercase types are accepted as they are.
const (
	TypePageView        = "page_view"
	TypeWebinarSignup   = "webinar_signup"
	TypeWebinarAttended = "webinar_attended"
	TypeSupportEmail    = "support_email"
	TypeFormSubmit      = "form_submit"
	TypeIdentify        = "identify"
)

// Lifecycle values.
const (
	LifecycleCustomer = "customer"
	LifecycleProspect = "prospect"
)

// Rejection reasons, stable strings used in the dead-letter header and as the
// reason label of the rejection counter.
const (
	ReasonTooLarge     = "too_large"
	ReasonNotJSON      = "not_json"
	ReasonMissingField = "missing_field"
	ReasonBadField     = "bad_field"
)

// EventError says why an encoded event was rejected.
type EventError struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Field is the JSON path of the offending field, when there is one.
	Field string
	// Detail is a human-readable explanation naming the bad value.
	Detail string
}

func (e *EventError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
}

// ParseEvent decodes and validates one encoded event of at most maxBytes
// (MaxEventBytes when maxBytes <= 0). Every failure is an *EventError.
//
// It decodes as encoding/json would into an Event (field names matched
// ignoring case, invalid UTF-8
// replaced by U+FFFD, property values as string, float64, bool, nil,
// map[string]any or []any) but by hand; a [Decoder] does the same with less
// garbage where events come in a stream. One difference: a member of the
// event or of its customer named twice, in any case ("id" and "ID"), is a
// bad_field error, where encoding/json would keep the last; the members of
// properties are data, and the last of a repeated one counts.
func ParseEvent(data []byte, maxBytes int) (Event, error) {
	d := Decoder{maxBytes: maxBytes}
	var ev Event
	err := d.Decode(data, &ev)
	return ev, err
}

// minEventTime and maxEventTime bound the event times the contract
// accepts: what int64 nanoseconds since 1970 hold, which is how the
// detector keeps them.
var (
	minEventTime = time.Unix(0, math.MinInt64).UTC()
	maxEventTime = time.Unix(0, math.MaxInt64).UTC()
)

func timeRangeDetail(t time.Time) string {
	return fmt.Sprintf("%s is outside the supported range, %s to %s", t.Format(time.RFC3339Nano),
		minEventTime.Format(time.RFC3339Nano), maxEventTime.Format(time.RFC3339Nano))
}

// Validate checks the rules of the event contract on an already decoded
// event: required fields present and well formed.
func (e *Event) Validate() error {
	switch {
	case e.ID == "":
		return &EventError{Reason: ReasonMissingField, Field: "id", Detail: "is required"}
	case e.Type == "":
		return &EventError{Reason: ReasonMissingField, Field: "type", Detail: "is required"}
	case e.Time.IsZero():
		return &EventError{Reason: ReasonMissingField, Field: "time", Detail: "is required"}
	case e.Customer.ID == "" && e.Customer.AnonymousID == "":
		return &EventError{Reason: ReasonMissingField, Field: "customer.id", Detail: "customer.id or customer.anonymous_id is required"}
	}
	if len(e.ID) > 256 {
		return &EventError{Reason: ReasonBadField, Field: "id", Detail: fmt.Sprintf("is %d characters, at most 256 allowed", len(e.ID))}
	}
	if e.Time.Before(minEventTime) || e.Time.After(maxEventTime) {
		return &EventError{Reason: ReasonBadField, Field: "time", Detail: timeRangeDetail(e.Time)}
	}
	if !validType(e.Type) {
		return &EventError{Reason: ReasonBadField, Field: "type", Detail: fmt.Sprintf("%q is not a lowercase event type", e.Type)}
	}
	switch e.Customer.Lifecycle {
	case "", LifecycleCustomer, LifecycleProspect:
	default:
		return &EventError{Reason: ReasonBadField, Field: "customer.lifecycle", Detail: fmt.Sprintf("%q is not customer or prospect", e.Customer.Lifecycle)}
	}
	return nil
}

// validType reports whether t matches ^[a-z][a-z0-9_.-]{0,63}$.
func validType(t string) bool {
	if len(t) == 0 || len(t) > 64 || t[0] < 'a' || t[0] > 'z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		switch c := t[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}
