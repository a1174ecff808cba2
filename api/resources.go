package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$`)

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !idPattern.MatchString(id) {
		return "", errorf(http.StatusBadRequest, "id: %q is not a valid id (letters, digits, _ . @ : -, at most 128)", id)
	}
	return id, nil
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
	switch {
	case req.Name == "":
		err = errorf(http.StatusBadRequest, "name: is required")
	case req.Role != postgres.RoleRep && req.Role != postgres.RoleMarketer && req.Role != postgres.RoleManager &&
		req.Role != postgres.RoleAdmin && req.Role != postgres.RoleSource:
		err = errorf(http.StatusBadRequest, "role: %q is not one of rep, marketer, manager, admin, source", req.Role)
	case req.Token != "":
		if werr := postgres.CheckToken(req.Token); werr != nil {
			err = errorf(http.StatusBadRequest, "token: %v", werr)
		}
	}
	if err != nil {
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
		a.Lifecycle = "prospect"
	}
	if a.Lifecycle != "prospect" && a.Lifecycle != "customer" {
		s.fail(w, r, errorf(http.StatusBadRequest, "lifecycle: %q is not prospect or customer", a.Lifecycle))
		return
	}
	if err := checkAttributes(a.Region, a.Industry, a.Size); err != nil {
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

func (s *Server) putContent(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var c postgres.Content
	if err := decodeJSON(r, &c); err != nil {
		s.fail(w, r, err)
		return
	}
	if c.ID != "" && c.ID != id {
		s.fail(w, r, errorf(http.StatusBadRequest, "id: %q does not match the URL's %q", c.ID, id))
		return
	}
	c.ID = id
	if err := s.store.PutContent(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
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
	src, err := readBody(r)
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
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		s.fail(w, r, errorf(http.StatusBadRequest, "version: %q is not a positive integer", r.PathValue("version")))
		return
	}
	sv, err := s.store.GetSignalVersion(r.Context(), id, v)
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
