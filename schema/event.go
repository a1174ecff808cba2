package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
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

var typePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// ParseEvent decodes and validates one encoded event of at most maxBytes
// (MaxEventBytes when maxBytes <= 0). Every failure is an *EventError.
func ParseEvent(data []byte, maxBytes int) (Event, error) {
	if maxBytes <= 0 {
		maxBytes = MaxEventBytes
	}
	var ev Event
	if len(data) > maxBytes {
		return ev, &EventError{Reason: ReasonTooLarge, Detail: fmt.Sprintf("%d bytes exceeds the limit of %d", len(data), maxBytes)}
	}
	// Time is decoded by hand so that a bad time is reported as a bad
	// "time" field rather than as broken JSON.
	var wire struct {
		Event
		Time json.RawMessage `json:"time"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&wire); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := strings.TrimPrefix(te.Field, "Event.")
			if field == "" {
				field = "(event)"
			}
			return ev, &EventError{Reason: ReasonBadField, Field: field, Detail: fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}
		}
		return ev, &EventError{Reason: ReasonNotJSON, Detail: err.Error()}
	}
	if dec.More() {
		return ev, &EventError{Reason: ReasonNotJSON, Detail: "trailing data after the JSON object"}
	}
	ev = wire.Event
	if len(wire.Time) > 0 && string(wire.Time) != "null" {
		var s string
		if err := json.Unmarshal(wire.Time, &s); err != nil {
			return ev, &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%s is not a string", wire.Time)}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return ev, &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%q is not an RFC 3339 time", s)}
		}
		ev.Time = t
	}
	return ev, ev.Validate()
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
	if !typePattern.MatchString(e.Type) {
		return &EventError{Reason: ReasonBadField, Field: "type", Detail: fmt.Sprintf("%q is not a lowercase event type", e.Type)}
	}
	switch e.Customer.Lifecycle {
	case "", LifecycleCustomer, LifecycleProspect:
	default:
		return &EventError{Reason: ReasonBadField, Field: "customer.lifecycle", Detail: fmt.Sprintf("%q is not customer or prospect", e.Customer.Lifecycle)}
	}
	return nil
}
