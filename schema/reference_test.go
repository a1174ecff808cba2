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

// parseEventReference is ParseEvent as it was built on encoding/json, kept
// as the definition the hand-written decoder is compared with: for every
// input both return the same Event and an *EventError of the same Reason
// and Field.
func parseEventReference(data []byte, maxBytes int) (Event, error) {
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
	err := dec.Decode(&wire)
	var te *json.UnmarshalTypeError
	if err == nil || errors.As(err, &te) {
		// Well formed: a repeated member comes before a type error.
		if dup := duplicateReference(data); dup != nil {
			return ev, dup
		}
	}
	if err != nil {
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
	return ev, validateReference(&ev)
}

var typePatternReference = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// validateReference is Event.Validate, whose rules are the contract
// itself, not a decoding to compare; only the check of the type, a regular
// expression before validType replaced it, is kept and must agree.
func validateReference(e *Event) error {
	if e.Type != "" && validType(e.Type) != typePatternReference.MatchString(e.Type) {
		return fmt.Errorf("validType(%q) = %v, but %s says otherwise", e.Type, validType(e.Type), typePatternReference)
	}
	return e.Validate()
}

// duplicateReference returns the first member of the event, or of a
// customer object, named twice ignoring case, as a bad_field error; data
// starts with a well-formed JSON value.
func duplicateReference(data []byte) *EventError {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var members func(prefix string, names []string) *EventError
	skip := func() {
		depth := 0
		for {
			tok, _ := dec.Token()
			if d, ok := tok.(json.Delim); ok {
				if d == '{' || d == '[' {
					depth++
				} else {
					depth--
				}
			}
			if depth == 0 {
				return
			}
		}
	}
	members = func(prefix string, names []string) *EventError {
		seen := map[string]bool{}
		for dec.More() {
			tok, _ := dec.Token()
			key, _ := tok.(string)
			name := ""
			for _, n := range names {
				if strings.EqualFold(key, n) {
					name = n
				}
			}
			if name != "" {
				if seen[name] {
					return &EventError{Reason: ReasonBadField, Field: prefix + name, Detail: "member named twice"}
				}
				seen[name] = true
			}
			if prefix == "" && name == "customer" {
				// Peek: only an object has members.
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil
				}
				if bytes.HasPrefix(bytes.TrimLeft(raw, " \t\r\n"), []byte("{")) {
					sub := json.NewDecoder(bytes.NewReader(raw))
					sub.Token()
					outer := dec
					dec = sub
					err := members("customer.", []string{"id", "anonymous_id", "email", "account_id", "lifecycle"})
					dec = outer
					if err != nil {
						return err
					}
				}
				continue
			}
			skip()
		}
		dec.Token() // '}'
		return nil
	}
	return members("", []string{"id", "type", "time", "source", "customer", "content_id", "properties"})
}
