package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/dowserhq/dowser"
)

// Stages is the storage of the shared definition of sales-ready: the
// versioned stage model, where each account stands, and the reps'
// handoff decisions with what they add up to.
type Stages interface {
	StageModel(ctx context.Context) (dowser.StageModel, error)
	StageVersion(ctx context.Context, version int) (dowser.StageModel, error)
	StageHistory(ctx context.Context, limit int) ([]dowser.StageModel, error)
	SaveStageModel(ctx context.Context, m dowser.StageModel, by string) (dowser.StageModel, error)
	AccountStage(ctx context.Context, accountID string) (dowser.AccountStage, error)
	DecideHandoff(ctx context.Context, userID, alertID string, h dowser.Handoff) (bool, error)
	HandoffDecisions(ctx context.Context, userID string, alertIDs []string) ([]dowser.HandoffDecision, error)
	HandoffReport(ctx context.Context, now time.Time, weeks int) (dowser.HandoffReport, error)
}

// stageEditors may change the stage model: marketing and sales (its
// managers) agree on it.
var stageEditors = roles{dowser.RoleMarketer, dowser.RoleManager, dowser.RoleAdmin}

// maxStageHistory bounds the versions GET /v1/stages/history lists.
const maxStageHistory = 200

func (s *Server) stageRoutes() {
	s.mux.HandleFunc("GET /v1/stages", s.auth(people, s.getStages))
	s.mux.HandleFunc("PUT /v1/stages", s.auth(stageEditors, s.putStages))
	s.mux.HandleFunc("GET /v1/stages/history", s.auth(people, s.stageHistory))
	s.mux.HandleFunc("GET /v1/stages/versions/{version}", s.auth(people, s.stageVersion))
	s.mux.HandleFunc("GET /v1/accounts/{id}/stage", s.auth(people, s.accountStage))
	s.mux.HandleFunc("PUT /v1/alerts/{id}/handoff", s.auth(people, s.putHandoff))
	s.mux.HandleFunc("GET /v1/handoffs", s.auth(people, s.listHandoffs))
	s.mux.HandleFunc("GET /v1/handoffs/report", s.auth(stageEditors, s.handoffReport))
}

// stagesReady answers 503 when no store serves stages.
func (s *Server) stagesReady(w http.ResponseWriter, r *http.Request) bool {
	if s.stages == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "stages are not served by this server"))
		return false
	}
	return true
}

func (s *Server) getStages(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	m, err := s.stages.StageModel(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// putStages saves the body as the next version of the stage model. Every
// signal a stage names must be a saved signal, so that a misspelt id does
// not silently move nothing.
func (s *Server) putStages(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	var m dowser.StageModel
	if err := decodeJSON(r, &m); err != nil {
		s.fail(w, r, err)
		return
	}
	var p dowser.Problems
	if err := m.Validate(); err != nil && !errors.As(err, &p) {
		s.fail(w, r, err)
		return
	}
	if len(p) == 0 {
		known, err := s.signals.ListSignals(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ids := make(map[string]bool, len(known))
		for _, sig := range known {
			ids[sig.ID] = true
		}
		for i, st := range m.Stages {
			for j, sig := range st.Signals {
				if !ids[sig] {
					p = append(p, &dowser.FieldError{Field: "stages[" + strconv.Itoa(i) + "].signals[" + strconv.Itoa(j) + "]",
						Reason: strconv.Quote(sig) + " is not a saved signal"})
				}
			}
		}
	}
	if err := badFields(p, http.StatusBadRequest); err != nil {
		s.fail(w, r, err)
		return
	}
	saved, err := s.stages.SaveStageModel(r.Context(), m, me.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, saved)
}

// stageHistory lists the saved versions of the stage model, newest first.
func (s *Server) stageHistory(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	list, err := s.stages.StageHistory(r.Context(), maxStageHistory)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": list})
}

func (s *Server) stageVersion(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	v, err := strconv.ParseInt(r.PathValue("version"), 10, 32)
	if err != nil || v < 1 {
		s.fail(w, r, errorf(http.StatusBadRequest, "version: %q is not a positive integer", r.PathValue("version")))
		return
	}
	m, err := s.stages.StageVersion(r.Context(), int(v))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// accountStage answers where the account stands and how it got there.
func (s *Server) accountStage(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.stages.AccountStage(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handoffResponse is the decision as stored, and whether accepting moved
// the alert's account into the accepted stage.
type handoffResponse struct {
	dowser.Handoff
	Moved bool `json:"moved"`
}

// putHandoff records the caller's acceptance or rejection of the handoff
// of an alert addressed to them.
func (s *Server) putHandoff(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var h dowser.Handoff
	if err := decodeJSON(r, &h); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := h.Validate(); err != nil {
		s.fail(w, r, badFieldsOf(err))
		return
	}
	moved, err := s.stages.DecideHandoff(r.Context(), me.ID, id, h)
	if err != nil {
		if errors.Is(err, dowser.ErrUnknownReason) || errors.Is(err, dowser.ErrReasonMisfit) {
			err = badFields(dowser.Problems{{Field: "reason", Reason: err.Error()}}, http.StatusBadRequest)
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, handoffResponse{Handoff: h, Moved: moved})
}

// listHandoffs answers the caller's decisions on the handoffs of the
// alerts named by ?alert= (repeated, at most dowser.MaxHandoffLookup), so
// that the panel shows them on cards listed again.
func (s *Server) listHandoffs(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	ids := r.URL.Query()["alert"]
	if len(ids) == 0 || len(ids) > dowser.MaxHandoffLookup {
		s.fail(w, r, errorf(http.StatusBadRequest, "alert: name 1 to %d alerts, not %d", dowser.MaxHandoffLookup, len(ids)))
		return
	}
	for _, id := range ids {
		if fe := dowser.CheckID("alert", id); fe != nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "%v", fe))
			return
		}
	}
	list, err := s.stages.HandoffDecisions(r.Context(), me.ID, ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"handoffs": list})
}

// handoffReport answers the acceptance of handoffs over ?weeks=N (12
// unless given), per signal and per rep.
func (s *Server) handoffReport(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if !s.stagesReady(w, r) {
		return
	}
	weeks, err := queryInt(r, "weeks", 12, maxExportWeeks)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.stages.HandoffReport(r.Context(), s.cfg.Now(), weeks)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
