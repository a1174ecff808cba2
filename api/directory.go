package api

import (
	"context"
	"net/http"

	"github.com/dowserhq/dowser"
)

// Directory is the storage of the records routing reads: accounts,
// content, contacts and territory rules, and the roles of their owners.
type Directory interface {
	PutAccount(ctx context.Context, a dowser.Account) error
	GetAccount(ctx context.Context, id string) (dowser.Account, error)
	PutContent(ctx context.Context, c dowser.Content) error
	GetContent(ctx context.Context, id string) (dowser.Content, error)
	PutContact(ctx context.Context, c dowser.Contact) error
	GetContact(ctx context.Context, id string) (dowser.Contact, error)
	PutTerritoryRule(ctx context.Context, r dowser.TerritoryRule) error
	GetTerritoryRule(ctx context.Context, id string) (dowser.TerritoryRule, error)
	DeleteTerritoryRule(ctx context.Context, id string) error
	ListTerritoryRules(ctx context.Context) ([]dowser.TerritoryRule, error)
	// RoleOf returns the user's role, "" when there is no such user: the
	// owner check of every record.
	RoleOf(ctx context.Context, userID string) (dowser.Role, error)
}

func (s *Server) putAccount(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	var a dowser.Account
	if err := decodeRecord(r, &a, &a.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	a.Lifecycle = dowser.DefaultLifecycle(a.Lifecycle)
	if err := s.validate(r.Context(), a, dowser.KindAccounts, "owner", a.OwnerID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.directory.PutAccount(r.Context(), a); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveGet(s, w, r, s.directory.GetAccount)
}

// contentRequest decodes and validates the content item of a PUT or an
// impact preview: the same rules for both.
func (s *Server) contentRequest(r *http.Request) (dowser.Content, error) {
	var c dowser.Content
	if err := decodeRecord(r, &c, &c.ID); err != nil {
		return c, err
	}
	return c, s.validate(r.Context(), c, dowser.KindContent, "owner", c.OwnerID)
}

func (s *Server) putContent(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	c, err := s.contentRequest(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.directory.PutContent(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getContent(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveGet(s, w, r, s.directory.GetContent)
}

// ReroutePreviewer routes recent alerts again as if a content item were
// saved, without saving it.
type ReroutePreviewer interface {
	ContentImpact(ctx context.Context, c dowser.Content) (dowser.ContentImpact, error)
}

// contentImpact answers, before a save, whose alerts the posted content
// item would reroute: the body and its checks are PUT's.
func (s *Server) contentImpact(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if s.cfg.Reroute == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "this instance does not preview reroutes"))
		return
	}
	c, err := s.contentRequest(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	impact, err := s.cfg.Reroute.ContentImpact(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, impact)
}

func (s *Server) putContact(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	var c dowser.Contact
	if err := decodeRecord(r, &c, &c.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.validate(r.Context(), c, dowser.KindContacts, "owner", c.OwnerID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.directory.PutContact(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveGet(s, w, r, s.directory.GetContact)
}

func (s *Server) putTerritoryRule(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	var tr dowser.TerritoryRule
	if err := decodeRecord(r, &tr, &tr.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.validate(r.Context(), tr, dowser.KindTerritoryRules, "rep", tr.RepID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.directory.PutTerritoryRule(r.Context(), tr); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tr)
}

func (s *Server) getTerritoryRule(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveGet(s, w, r, s.directory.GetTerritoryRule)
}

func (s *Server) deleteTerritoryRule(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.directory.DeleteTerritoryRule(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listTerritoryRules lists the rules in the order routing tries them.
func (s *Server) listTerritoryRules(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveList(s, w, r, "rules", s.directory.ListTerritoryRules)
}
