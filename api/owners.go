package api

import (
	"context"
	"net/http"

	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// RoutingStore is the storage of who receives alerts (contacts, territory
// rules, managers' subscriptions) and of what they did with them.
type RoutingStore interface {
	PutContact(ctx context.Context, c postgres.Contact) error
	GetContact(ctx context.Context, id string) (postgres.Contact, error)
	PutTerritoryRule(ctx context.Context, r postgres.TerritoryRule) error
	GetTerritoryRule(ctx context.Context, id string) (postgres.TerritoryRule, error)
	DeleteTerritoryRule(ctx context.Context, id string) error
	ListTerritoryRules(ctx context.Context) ([]postgres.TerritoryRule, error)
	Subscribe(ctx context.Context, managerID, repID string) error
	Unsubscribe(ctx context.Context, managerID, repID string) error
	SignalPrecision(ctx context.Context, signalID string) (postgres.Precision, error)
	ListPrecision(ctx context.Context) ([]postgres.Precision, error)
}

var _ RoutingStore = (*postgres.Store)(nil)

func (s *Server) putContact(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var c postgres.Contact
	if err := decodeJSON(r, &c); err != nil {
		s.fail(w, r, err)
		return
	}
	if c.ID != "" && c.ID != id {
		s.fail(w, r, errorf(http.StatusBadRequest, "id: %q does not match the URL's %q", c.ID, id))
		return
	}
	var problems fieldProblems
	problems.check(schema.KindContacts, "owner", c.OwnerID, "account_id", c.AccountID)
	if err := s.checkOwner(r.Context(), &problems, schema.KindContacts, "owner", c.OwnerID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := problems.err(); err != nil {
		s.fail(w, r, err)
		return
	}
	c.ID = id
	if err := s.store.PutContact(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.store.GetContact(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) putTerritoryRule(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var tr postgres.TerritoryRule
	if err := decodeJSON(r, &tr); err != nil {
		s.fail(w, r, err)
		return
	}
	if tr.ID != "" && tr.ID != id {
		s.fail(w, r, errorf(http.StatusBadRequest, "id: %q does not match the URL's %q", tr.ID, id))
		return
	}
	var problems fieldProblems
	problems.add(schema.CheckInt32("priority", int64(tr.Priority)))
	problems.check(schema.KindTerritoryRules, "rep", tr.RepID, "region", tr.Region, "industry", tr.Industry, "size", tr.Size)
	if err := s.checkOwner(r.Context(), &problems, schema.KindTerritoryRules, "rep", tr.RepID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := problems.err(); err != nil {
		s.fail(w, r, err)
		return
	}
	tr.ID = id
	if err := s.store.PutTerritoryRule(r.Context(), tr); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tr)
}

func (s *Server) getTerritoryRule(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tr, err := s.store.GetTerritoryRule(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tr)
}

func (s *Server) deleteTerritoryRule(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.DeleteTerritoryRule(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listTerritoryRules lists the rules in the order routing tries them.
func (s *Server) listTerritoryRules(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	rules, err := s.store.ListTerritoryRules(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": rules})
}

// subscription subscribes (on) or unsubscribes the manager {id} to the rep
// {rep}: while subscribed, the manager receives every alert the rep does.
func (s *Server) subscription(on bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, _ postgres.User) {
		managerID, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		repID := r.PathValue("rep")
		if fe := schema.CheckID("rep", repID); fe != nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "%v", fe))
			return
		}
		if !on {
			if err := s.store.Unsubscribe(r.Context(), managerID, repID); err != nil {
				s.fail(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		for _, want := range []struct{ field, id, role string }{{"id", managerID, postgres.RoleManager}, {"rep", repID, postgres.RoleRep}} {
			u, err := s.store.GetUser(r.Context(), want.id)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if u.Role != want.role {
				s.fail(w, r, errorf(http.StatusBadRequest, "%s: %q is a %s, not a %s", want.field, want.id, u.Role, want.role))
				return
			}
		}
		if err := s.store.Subscribe(r.Context(), managerID, repID); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// signalPrecision answers what the recipients of the signal's alerts did
// with them.
func (s *Server) signalPrecision(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.store.SignalPrecision(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// listPrecision answers signalPrecision for every signal, by id.
func (s *Server) listPrecision(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	ps, err := s.store.ListPrecision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"precision": ps})
}
