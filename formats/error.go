package formats

import (
	"github.com/dowserhq/dowser/schema"
)

// Error says why a message of a format could not become an event, naming
// the message's own field (userId, event_id, ce_id...).
type Error struct {
	// Format is the format's name, e.g. segment.
	Format string
	// Reason is one of the schema.Reason* constants.
	Reason string
	// Field is the path of the message's offending field, "" when there is
	// none (a message that is not JSON).
	Field string
	// Detail says what was wrong, naming the field and the value, e.g.
	// "userId or anonymousId is required".
	Detail string
}

func (e *Error) Error() string { return e.Format + ": " + e.Detail }

// Unwrap presents the error as the *schema.EventError the consumer and the
// API report: its Reason and Field, and this error's text as its Detail.
func (e *Error) Unwrap() error {
	return &schema.EventError{Reason: e.Reason, Field: e.Field, Detail: e.Error()}
}

func missing(format string, paths ...string) *Error {
	return &Error{Format: format, Reason: schema.ReasonMissingField, Field: paths[0], Detail: orList(paths) + " is required"}
}

func bad(format, field, detail string) *Error {
	return &Error{Format: format, Reason: schema.ReasonBadField, Field: field, Detail: field + ": " + detail}
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	s := names[0]
	for _, n := range names[1 : len(names)-1] {
		s += ", " + n
	}
	return s + " or " + names[len(names)-1]
}
