package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/dowserhq/dowser"
)

// Stores are the storage the API reads and writes: one small interface
// per handler group, each declared beside its handlers. The postgres
// aggregates of the same names satisfy them.
type Stores struct {
	People    People
	Directory Directory
	Signals   Signals
	Alerts    Alerts
	Privacy   Privacy
	// Feedback serves the structured verdicts and their report; nil
	// takes Alerts when it is one too.
	Feedback Feedback
	// Channels serves /v1/channels; nil answers 503.
	Channels Channels
	// Team serves the team view, subscriptions and unacknowledged
	// count; nil takes Alerts when it is one too.
	Team Team
	// Escalations serves follow-up rules and calendars; nil answers 503.
	Escalations Escalations
	// Stages serves /v1/stages and handoffs; nil takes Alerts when it is
	// one too, else answers 503.
	Stages Stages
	// Journey serves the timelines; nil answers 503.
	Journey Journey
}

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if fe := dowser.CheckID("id", id); fe != nil {
		return "", errorf(http.StatusBadRequest, "%v", fe)
	}
	return id, nil
}

// decodeRecord decodes the JSON body of a PUT (or an impact preview) of
// the record at the path's {id} into rec, whose id member is *id: it must
// be empty or the path's id, and is set to it.
func decodeRecord(r *http.Request, rec any, id *string) error {
	pid, err := pathID(r)
	if err != nil {
		return err
	}
	if err := decodeJSON(r, rec); err != nil {
		return err
	}
	if *id != "" && *id != pid {
		return errorf(http.StatusBadRequest, "id: %q does not match the URL's %q", *id, pid)
	}
	*id = pid
	return nil
}

// validate checks rec with its Validate, and that owner, the value of its
// field ownerField, is a user whose role may own a record of kind: nil, or
// a 400 naming every problem.
func (s *Server) validate(ctx context.Context, rec interface{ Validate() error }, kind, ownerField, owner string) error {
	var p dowser.Problems
	if err := rec.Validate(); err != nil && !errors.As(err, &p) {
		return err
	}
	if err := s.checkOwner(ctx, &p, kind, ownerField, owner); err != nil {
		return err
	}
	return badFields(p, http.StatusBadRequest)
}

// badFields is the answer, with status, naming every problem; nil when
// there are none.
func badFields(p dowser.Problems, status int) error {
	if len(p) == 0 {
		return nil
	}
	return &httpError{status: status, msg: p.Error(), problems: p}
}

// checkOwner adds a problem when owner, a valid id, is not a user whose
// role may own a record of kind (dowser.CheckOwner).
func (s *Server) checkOwner(ctx context.Context, p *dowser.Problems, kind, field, owner string) error {
	if owner == "" || dowser.CheckID(field, owner) != nil {
		return nil // no owner, or already reported
	}
	role, err := s.directory.RoleOf(ctx, owner)
	if err != nil {
		return err
	}
	p.Add(dowser.CheckOwner(kind, field, owner, role))
	return nil
}

// serveGet answers a GET of the record at the path's {id} as get finds it.
func serveGet[T any](s *Server, w http.ResponseWriter, r *http.Request, get func(context.Context, string) (T, error)) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// serveList answers a list as {"key": [...]}: [] rather than null when it
// is empty.
func serveList[T any](s *Server, w http.ResponseWriter, r *http.Request, key string, list func(context.Context) ([]T, error)) {
	v, err := list(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v == nil {
		v = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{key: v})
}
