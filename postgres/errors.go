package postgres

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dowserhq/dowser"
)

// isPermanent reports whether err is a PostgreSQL error that the same
// statement with the same data will meet on every retry, so that retrying
// only stalls the caller: SQLSTATE class 22 (data exception: a NUL in text
// is 22021, in jsonb 22P05; a value out of range) and class 23 (integrity
// constraint violation).
//
// Everything else is transient and worth retrying: lost or refused
// connections (class 08 and errors with no SQLSTATE), insufficient
// resources (53), a server shutting down or restarting (57P01–57P03),
// serialization failures and deadlocks (40001, 40P01), and any error it
// does not know, since wrongly dropping an event is worse than wrongly
// waiting for an operator.
func isPermanent(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23":
		return true
	}
	return false
}

// refusedForGood reports whether the server refused a connection for a
// reason waiting will not change: the credentials (SQLSTATE class 28) or
// a database that does not exist (3D000). A server starting up, full or
// unreachable is worth waiting for.
func refusedForGood(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000"
}

// markPermanent returns err so that errors.Is(err, dowser.ErrPermanent)
// holds when isPermanent(err), and err itself otherwise (nil for nil).
// The message is err's own.
func markPermanent(err error) error {
	if !isPermanent(err) {
		return err
	}
	return &permanentError{err}
}

// permanentError is a failure the same data meets on every retry: it is
// both its PostgreSQL error and dowser.ErrPermanent.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{e.err, dowser.ErrPermanent} }

// SQLState returns the SQLSTATE of a PostgreSQL error in err's chain, or
// "" when there is none.
func SQLState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}
