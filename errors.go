package dowser

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned when the requested record does not exist.
var ErrNotFound = errors.New("not found")

// ErrPermanent marks a failure that the same operation with the same data
// meets on every retry (a value storage refuses, a broken constraint), so
// that retrying only stalls the caller. Stores wrap such failures so that
// errors.Is(err, ErrPermanent) holds; every other failure may pass.
var ErrPermanent = errors.New("permanent failure")

// FieldError is a value of a record's field that is refused, and why.
// Reason never repeats a secret (a token).
type FieldError struct {
	Field  string `json:"path"`
	Reason string `json:"reason"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Problems are the refused fields of one record: every one is reported,
// not only the first, so that one answer says all that is wrong. The
// Validate methods return a Problems, or nil.
type Problems []*FieldError

// Add appends fe unless it is nil.
func (p *Problems) Add(fe *FieldError) {
	if fe != nil {
		*p = append(*p, fe)
	}
}

// Err returns p as an error, or nil when there are no problems: a nil
// Problems in an error interface would not be nil.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}

// Error joins the problems' messages with "; ".
func (p Problems) Error() string {
	msgs := make([]string, len(p))
	for i, fe := range p {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "; ")
}

// ErrUserDeleted is returned when saving a user under the id of a deleted
// one: the id stays reserved for the history of the alerts it was sent.
var ErrUserDeleted = errors.New("the user was deleted; its id stays reserved")
