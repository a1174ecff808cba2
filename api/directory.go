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
	// People returns, by customer id, those of ids whom reps may see by
	// more than their id, with the fields shown allows; nothing for
	// shown none (see postgres.Directory.People).
	People(ctx context.Context, shown dowser.IdentityFields, ids []string) (map[string]dowser.Person, error)
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
	// What was kept: without consent, no name, title or e-mail.
	stored, err := s.directory.GetContact(r.Context(), c.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, stored)
}

// getContact answers the contact: to an admin as stored, to others with
// only the identity reps may see (--contact-identity, consent,
// do-not-track) and no record of the consent.
func (s *Server) getContact(w http.ResponseWriter, r *http.Request, me dowser.User) {
	serveGet(s, w, r, func(ctx context.Context, id string) (dowser.Contact, error) {
		c, err := s.directory.GetContact(ctx, id)
		if err != nil || me.Role == dowser.RoleAdmin {
			return c, err
		}
		people, err := s.directory.People(ctx, s.cfg.Identity, []string{c.ID})
		if err != nil {
			return c, err
		}
		p := people[c.ID]
		c.Name, c.Title, c.Email = p.Name, p.Title, p.Email
		c.IdentityConsent, c.IdentityConsentSource, c.IdentityConsentAt = nil, "", nil
		return c, nil
	})
}

// whoAre returns whom reps may see by more than their id among ids, or
// nil when the setting shows nothing. A failed read shows ids only: the
// page is still worth answering.
func (s *Server) whoAre(r *http.Request, ids []string) map[string]dowser.Person {
	if s.cfg.Identity.None() {
		return nil
	}
	people, err := s.directory.People(r.Context(), s.cfg.Identity, ids)
	if err != nil {
		s.cfg.Logger.Warn("reading who people are; showing their ids only", "err", err)
		return nil
	}
	return people
}

// personOf is a person of people, nil when they are shown by id only.
func personOf(people map[string]dowser.Person, id string) *dowser.Person {
	if p, ok := people[id]; ok {
		return &p
	}
	return nil
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
