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

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
)

// Signals is the storage of signal definitions, their versions and who
// changed them.
type Signals interface {
	SaveSignal(ctx context.Context, id string, document json.RawMessage, source, by string, enabled bool) (int, error)
	GetSignal(ctx context.Context, id string) (dowser.StoredSignal, error)
	ListSignals(ctx context.Context) ([]dowser.StoredSignal, error)
	DeleteSignal(ctx context.Context, id, by string) error
	SetSignalEnabled(ctx context.Context, id string, enabled bool, by string) error
	SignalHistory(ctx context.Context, id string) ([]dowser.SignalChange, error)
	GetSignalVersion(ctx context.Context, id string, version int) (dowser.SignalVersion, error)
}

// putSignal validates the definition (YAML or JSON) and stores it as the
// signal's next version. ?enabled=false stores it disabled.
func (s *Server) putSignal(w http.ResponseWriter, r *http.Request, me dowser.User) {
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
	sig, src, err := readSignal(r)
	if err != nil {
		s.fail(w, r, err)
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
	var problems dowser.Problems
	problems.Add(nulField(doc))
	if err := s.checkOwner(r.Context(), &problems, dowser.KindSignals, "owner", sig.Owner); err != nil {
		s.fail(w, r, err)
		return
	}
	// 422, as every other problem of a signal.
	if err := badFields(problems, http.StatusUnprocessableEntity); err != nil {
		s.fail(w, r, err)
		return
	}
	version, err := s.signals.SaveSignal(r.Context(), id, doc, string(src), me.ID, enabled)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	stored, err := s.signals.GetSignal(r.Context(), id)
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

func (s *Server) getSignal(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveGet(s, w, r, s.signals.GetSignal)
}

func (s *Server) listSignals(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveList(s, w, r, "signals", s.signals.ListSignals)
}

func (s *Server) deleteSignal(w http.ResponseWriter, r *http.Request, me dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.signals.DeleteSignal(r.Context(), id, me.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// enableSignal turns a signal on or off without a new version.
func (s *Server) enableSignal(enabled bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me dowser.User) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.signals.SetSignalEnabled(r.Context(), id, enabled, me.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		sig, err := s.signals.GetSignal(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, sig)
	}
}

// signalHistory lists who saved, enabled, disabled or deleted the signal,
// and when, oldest first.
func (s *Server) signalHistory(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	changes, err := s.signals.SignalHistory(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "changes": changes})
}

func (s *Server) signalVersion(w http.ResponseWriter, r *http.Request, _ dowser.User) {
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
	sv, err := s.signals.GetSignalVersion(r.Context(), id, int(v))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sv)
}

// readSignal reads and parses the signal definition (YAML or JSON) of a
// request's body, and returns it with its source: a 422 naming every
// problem of one that is not valid.
func readSignal(r *http.Request) (*detector.Signal, []byte, error) {
	src, err := readBody(r, signalTypes)
	if err != nil {
		return nil, nil, err
	}
	sig, err := detector.ParseSignal(src)
	if err != nil {
		he := &httpError{status: http.StatusUnprocessableEntity, msg: err.Error()}
		var ve *detector.ValidationError
		if errors.As(err, &ve) {
			he.problems = ve.Problems
		}
		return nil, nil, he
	}
	return sig, src, nil
}

// nulField names the first string of a JSON document that holds a NUL
// character: YAML's "\0" escape can put one there, and PostgreSQL cannot
// store it. nil when there is none.
func nulField(doc []byte) *dowser.FieldError {
	if !bytes.Contains(doc, []byte(`\u0000`)) {
		return nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return &dowser.FieldError{Field: "(signal)", Reason: err.Error()}
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
	return &dowser.FieldError{Field: path, Reason: "contains a NUL character"}
}
