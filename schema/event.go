package schema

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
	// AccountName is the account's name in the directory, which the event
	// path fills in for message templates (.AccountName); never on the
	// wire.
	AccountName string `json:"-"`
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
	// ReasonProcessingFailed marks a valid event whose processing failed in
	// a way that retrying cannot fix (a value the database refuses, say).
	ReasonProcessingFailed = "processing_failed"
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
// event: required fields present and well formed, and no text that
// PostgreSQL cannot store (a NUL character, invalid UTF-8) in any string.
func (e *Event) Validate() error {
	return e.validate(true)
}

// validate is Validate; text says whether to check the strings for NUL
// and invalid UTF-8, which a Decoder knows are absent when it unescaped no
// NUL (it replaces invalid UTF-8 as it decodes).
func (e *Event) validate(text bool) error {
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
	if text {
		return e.checkText()
	}
	return nil
}

// checkText rejects a NUL character or invalid UTF-8 in any string of the
// event, property keys and values included: PostgreSQL's text and jsonb
// cannot hold them, so such an event would fail at storage on every
// retry. The first bad field in a fixed order is named.
func (e *Event) checkText() error {
	for _, f := range []struct{ name, v string }{
		{"id", e.ID}, {"type", e.Type}, {"source", e.Source},
		{"customer.id", e.Customer.ID}, {"customer.anonymous_id", e.Customer.AnonymousID},
		{"customer.email", e.Customer.Email}, {"customer.account_id", e.Customer.AccountID},
		{"customer.lifecycle", e.Customer.Lifecycle}, {"content_id", e.ContentID},
	} {
		if d := badText(f.v); d != "" {
			return &EventError{Reason: ReasonBadField, Field: f.name, Detail: d}
		}
	}
	if field, d := badValue("properties", e.Properties); d != "" {
		return &EventError{Reason: ReasonBadField, Field: field, Detail: d}
	}
	return nil
}

// badText says what is wrong with s as text to store, or "".
func badText(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Sprintf("%q contains a NUL character (U+0000)", s[:min(len(s), 64)])
	case !utf8.ValidString(s):
		return fmt.Sprintf("%q is not valid UTF-8", s[:min(len(s), 64)])
	}
	return ""
}

// badValue finds the first bad text in a property value at path, keys in
// sorted order, and says where and what; detail is "" when all is well.
func badValue(path string, v any) (field, detail string) {
	switch v := v.(type) {
	case string:
		return path, badText(v)
	case map[string]any:
		var keys []string
		for k, x := range v {
			if badText(k) != "" || hasBadText(x) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return "", ""
		}
		k := slices.Min(keys)
		if d := badText(k); d != "" {
			return path, "key " + d
		}
		return badValue(path+"."+k, v[k])
	case []any:
		for i, x := range v {
			if f, d := badValue(path+"["+strconv.Itoa(i)+"]", x); d != "" {
				return f, d
			}
		}
	}
	return "", ""
}

// hasBadText reports whether v holds bad text anywhere, without building
// paths.
func hasBadText(v any) bool {
	switch v := v.(type) {
	case string:
		return badText(v) != ""
	case map[string]any:
		for k, x := range v {
			if badText(k) != "" || hasBadText(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasBadText(x) {
				return true
			}
		}
	}
	return false
}

// CheckClock rejects an event dated more than maxAhead after now: a clock
// gone wrong upstream (or a year like 2262) would otherwise sit at the end
// of every window. maxAhead <= 0 checks nothing. The error is a bad_field
// *EventError naming time.
func (e *Event) CheckClock(now time.Time, maxAhead time.Duration) error {
	if maxAhead <= 0 || !e.Time.After(now.Add(maxAhead)) {
		return nil
	}
	return &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%s is more than %v ahead of the clock (%s)",
		e.Time.Format(time.RFC3339Nano), maxAhead, now.UTC().Format(time.RFC3339))}
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
