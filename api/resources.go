package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if fe := schema.CheckID("id", id); fe != nil {
		return "", errorf(http.StatusBadRequest, "%v", fe)
	}
	return id, nil
}

// fieldProblems are the refused fields of one request: every one is
// reported, not only the first, so that one answer says all that is wrong.
type fieldProblems []*schema.FieldError

func (p *fieldProblems) add(fe *schema.FieldError) {
	if fe != nil {
		*p = append(*p, fe)
	}
}

// check checks each field of a record of kind with schema.CheckField, the
// rules `dowser import` applies too; fields are name, value pairs.
func (p *fieldProblems) check(kind string, fields ...string) {
	for i := 0; i+1 < len(fields); i += 2 {
		p.add(schema.CheckField(kind, fields[i], fields[i+1]))
	}
}

// err is the 400 answer naming every problem, or nil.
func (p fieldProblems) err() error {
	if len(p) == 0 {
		return nil
	}
	msgs := make([]string, len(p))
	for i, fe := range p {
		msgs[i] = fe.Error()
	}
	return &httpError{status: http.StatusBadRequest, msg: strings.Join(msgs, "; "), problems: p}
}

// checkOwner adds a problem when owner, a valid id, is not a user whose
// role may own a record of kind (schema.CheckOwner).
func (s *Server) checkOwner(ctx context.Context, p *fieldProblems, kind, field, owner string) error {
	if owner == "" || schema.CheckID(field, owner) != nil {
		return nil // no owner, or already reported
	}
	u, err := s.store.GetUser(ctx, owner)
	switch {
	case errors.Is(err, postgres.ErrNotFound):
		u.Role = ""
	case err != nil:
		return err
	}
	p.add(schema.CheckOwner(kind, field, owner, u.Role))
	return nil
}

type userRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Token    string `json:"token,omitempty"`
	Disabled bool   `json:"disabled"`
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req userRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	var problems fieldProblems
	problems.check(schema.KindUsers, "name", req.Name, "role", req.Role, "token", req.Token)
	if err := problems.err(); err != nil {
		s.fail(w, r, err)
		return
	}
	u := postgres.User{ID: id, Name: req.Name, Role: req.Role, Disabled: req.Disabled}
	if err := s.store.PutUser(r.Context(), u, req.Token); err != nil {
		if errors.Is(err, postgres.ErrUserDeleted) {
			err = errorf(http.StatusConflict, "id: %q belonged to a deleted user and stays reserved for its alerts' history; choose another id", id)
		}
		s.fail(w, r, err)
		return
	}
	// A rotated token or a disabled user ends the user's streams here at
	// once; other instances follow within their revocation poll.
	s.revoked(r.Context(), id)
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, me postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if id == me.ID {
		s.fail(w, r, errorf(http.StatusConflict, "id: an admin cannot delete themself (%q); ask another admin", id))
		return
	}
	if err := s.store.DeleteUser(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.revoked(r.Context(), id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, me postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if me.Role != postgres.RoleAdmin && me.ID != id {
		s.fail(w, r, errorf(http.StatusForbidden, "only admins may read other users"))
		return
	}
	u, err := s.store.GetUser(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) putAccount(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var a postgres.Account
	if err := decodeJSON(r, &a); err != nil {
		s.fail(w, r, err)
		return
	}
	if a.ID != "" && a.ID != id {
		s.fail(w, r, errorf(http.StatusBadRequest, "id: %q does not match the URL's %q", a.ID, id))
		return
	}
	a.ID = id
	if a.Lifecycle == "" {
		a.Lifecycle = schema.LifecycleProspect
	}
	var problems fieldProblems
	problems.check(schema.KindAccounts, "name", a.Name, "owner", a.OwnerID, "lifecycle", a.Lifecycle,
		"region", a.Region, "industry", a.Industry, "size", a.Size)
	if err := s.checkOwner(r.Context(), &problems, schema.KindAccounts, "owner", a.OwnerID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := problems.err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.PutAccount(r.Context(), a); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.store.GetAccount(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// contentRequest decodes and validates the content item of a PUT or an
// impact preview: the same rules for both.
func (s *Server) contentRequest(r *http.Request) (postgres.Content, error) {
	id, err := pathID(r)
	if err != nil {
		return postgres.Content{}, err
	}
	var c postgres.Content
	if err := decodeJSON(r, &c); err != nil {
		return c, err
	}
	if c.ID != "" && c.ID != id {
		return c, errorf(http.StatusBadRequest, "id: %q does not match the URL's %q", c.ID, id)
	}
	c.ID = id
	var problems fieldProblems
	problems.check(schema.KindContent, "title", c.Title, "url_prefix", c.URLPrefix, "owner", c.OwnerID)
	if err := s.checkOwner(r.Context(), &problems, schema.KindContent, "owner", c.OwnerID); err != nil {
		return c, err
	}
	return c, problems.err()
}

func (s *Server) putContent(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	c, err := s.contentRequest(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.PutContent(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// ContentImpact is what saving a content item would change: whose
// marketing alerts, among the recent ones, would go to someone else.
type ContentImpact struct {
	ContentID string `json:"content_id"`
	// AlertsExamined is how many of the most recent alerts were routed
	// again, with and without the change.
	AlertsExamined int `json:"alerts_examined"`
	// Rerouted is how many of them would change marketing recipients.
	Rerouted int `json:"rerouted"`
	// Alerts are the first of those, newest first.
	Alerts []ReroutedAlert `json:"alerts"`
	// Gain are the users who would receive alerts they do not now; Lose
	// those who would no longer receive some.
	Gain []string `json:"gain"`
	Lose []string `json:"lose"`
}

// ReroutedAlert is one recent alert whose marketing recipients a change
// would alter.
type ReroutedAlert struct {
	ID        string    `json:"id"`
	SignalID  string    `json:"signal_id"`
	AccountID string    `json:"account_id"`
	Time      time.Time `json:"time"`
	Before    []string  `json:"before"`
	After     []string  `json:"after"`
}

// ReroutePreviewer routes recent alerts again as if a content item were
// saved, without saving it.
type ReroutePreviewer interface {
	ContentImpact(ctx context.Context, c postgres.Content) (ContentImpact, error)
}

// contentImpact answers, before a save, whose alerts the posted content
// item would reroute: the body and its checks are PUT's.
func (s *Server) contentImpact(w http.ResponseWriter, r *http.Request, _ postgres.User) {
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

func (s *Server) getContent(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.store.GetContent(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// putSignal validates the definition (YAML or JSON) and stores it as the
// signal's next version. ?enabled=false stores it disabled.
func (s *Server) putSignal(w http.ResponseWriter, r *http.Request, me postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	enabled := true
	if v := r.URL.Query().Get("enabled"); v != "" {
		if enabled, err = strconv.ParseBool(v); err != nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "enabled: %q is not true or false", v))
			return
		}
	}
	src, err := readBody(r, signalTypes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sig, err := detector.ParseSignal(src)
	if err != nil {
		he := &httpError{status: http.StatusUnprocessableEntity, msg: err.Error()}
		var ve *detector.ValidationError
		if errors.As(err, &ve) {
			he.problems = ve.Problems
		}
		s.fail(w, r, he)
		return
	}
	if sig.ID != id {
		s.fail(w, r, &httpError{status: http.StatusUnprocessableEntity, msg: "id: " + strconv.Quote(sig.ID) + " does not match the URL's " + strconv.Quote(id)})
		return
	}
	doc, err := json.Marshal(sig)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var problems fieldProblems
	problems.add(nulField(doc))
	if err := s.checkOwner(r.Context(), &problems, schema.KindSignals, "owner", sig.Owner); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := problems.err(); err != nil {
		err.(*httpError).status = http.StatusUnprocessableEntity // as every other problem of a signal
		s.fail(w, r, err)
		return
	}
	version, err := s.store.SaveSignal(r.Context(), id, doc, string(src), me.ID, enabled)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, err := s.store.GetSignal(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if stored.Version != version {
		// A concurrent save won; report what is current.
		s.cfg.Logger.Info("signal saved concurrently", "signal", id, "ours", version, "current", stored.Version)
	}
	writeJSON(w, http.StatusOK, stored)
}

func (s *Server) getSignal(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sig, err := s.store.GetSignal(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sig)
}

func (s *Server) listSignals(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	sigs, err := s.store.ListSignals(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sigs == nil {
		sigs = []postgres.StoredSignal{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"signals": sigs})
}

func (s *Server) deleteSignal(w http.ResponseWriter, r *http.Request, me postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.store.DeleteSignal(r.Context(), id, me.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// enableSignal turns a signal on or off without a new version.
func (s *Server) enableSignal(enabled bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me postgres.User) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.store.SetSignalEnabled(r.Context(), id, enabled, me.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		sig, err := s.store.GetSignal(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sig)
	}
}

// signalHistory lists who saved, enabled, disabled or deleted the signal,
// and when, oldest first.
func (s *Server) signalHistory(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	changes, err := s.store.SignalHistory(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "changes": changes})
}

func (s *Server) signalVersion(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A version is a PostgreSQL integer: a larger number is no version.
	v, err := strconv.ParseInt(r.PathValue("version"), 10, 32)
	if err != nil || v < 1 {
		s.fail(w, r, errorf(http.StatusBadRequest, "version: %q is not a positive integer", r.PathValue("version")))
		return
	}
	sv, err := s.store.GetSignalVersion(r.Context(), id, int(v))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sv)
}

// doNotTrack marks or unmarks a customer or an account: its events are
// dropped before any state is kept, on every instance within a poll.
func (s *Server) doNotTrack(on bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me postgres.User) {
		kind := r.PathValue("kind")
		if kind != postgres.DNTCustomer && kind != postgres.DNTAccount {
			s.fail(w, r, errorf(http.StatusBadRequest, "kind: %q is not customer or account", kind))
			return
		}
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.store.SetDoNotTrack(r.Context(), kind, id, on, me.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// eraseCustomer erases a person on request: their alerts go at once; the
// detectors of every instance forget them within a poll and overwrite
// their checkpoints.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request, me postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seq, alerts, err := s.store.EraseCustomer(r.Context(), id, me.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int64{"erasure": seq, "alerts_deleted": alerts})
}

// listErasures is the erasure audit: what was erased, by whom, when, and
// whether every detector has applied it; never the person's id.
func (s *Server) listErasures(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	audit, err := s.store.ErasureAudit(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if audit == nil {
		audit = []postgres.ErasureAuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"erasures": audit})
}

// listAlerts lists the caller's own alerts, newest first; admins see every
// alert.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, me postgres.User) {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user := me.ID
	if me.Role == postgres.RoleAdmin {
		user = ""
	}
	alerts, err := s.store.ListAlerts(r.Context(), user, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
}

// nulField names the first string of a JSON document that holds a NUL
// character: YAML's "\0" escape can put one there, and PostgreSQL cannot
// store it. nil when there is none.
func nulField(doc []byte) *schema.FieldError {
	if !bytes.Contains(doc, []byte(`\u0000`)) {
		return nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return &schema.FieldError{Field: "(signal)", Reason: err.Error()}
	}
	var walk func(v any, path string) string
	walk = func(v any, path string) string {
		switch v := v.(type) {
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				return path
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if strings.IndexByte(k, 0) >= 0 {
					return joinPath(path, k)
				}
				if p := walk(v[k], joinPath(path, k)); p != "" {
					return p
				}
			}
		case []any:
			for i, e := range v {
				if p := walk(e, fmt.Sprintf("%s[%d]", path, i)); p != "" {
					return p
				}
			}
		}
		return ""
	}
	path := walk(v, "")
	if path == "" {
		path = "(signal)"
	}
	return &schema.FieldError{Field: path, Reason: "contains a NUL character"}
}
