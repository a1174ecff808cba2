package api

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
)

// Feedback is the storage of the reps' structured verdicts, the reasons
// they choose from, and what the verdicts add up to.
type Feedback interface {
	ListFeedbackReasons(ctx context.Context, withRetired bool) ([]dowser.FeedbackReason, error)
	PutFeedbackReason(ctx context.Context, r dowser.FeedbackReason) (dowser.FeedbackReason, error)
	RetireFeedbackReason(ctx context.Context, id string) error
	GiveVerdict(ctx context.Context, userID, alertID string, v dowser.Verdict) error
	FeedbackReport(ctx context.Context, now time.Time, weeks int) (dowser.FeedbackReport, error)
	ExportFeedback(ctx context.Context, since time.Time, row func([]string) error) error
}

// maxExportWeeks bounds how far back an export reaches.
const maxExportWeeks = 104

// listFeedbackReasons lists the reasons offered with a verdict, or only
// those that fit ?verdict= (not_useful, won or reject, a rejected
// handoff); marketers and admins see the retired ones too with
// ?retired=true.
func (s *Server) listFeedbackReasons(w http.ResponseWriter, r *http.Request, me dowser.User) {
	withRetired := r.URL.Query().Get("retired") == "true" && (me.Role == dowser.RoleMarketer || me.Role == dowser.RoleAdmin)
	kind := r.URL.Query().Get("verdict")
	if kind != "" && !slices.Contains(dowser.ReasonKinds(), kind) {
		s.fail(w, r, badFields(dowser.Problems{{Field: "verdict", Reason: strconv.Quote(kind) + " is not not_useful, won or reject"}}, http.StatusBadRequest))
		return
	}
	list, err := s.feedback.ListFeedbackReasons(r.Context(), withRetired)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if kind != "" {
		list = slices.DeleteFunc(list, func(fr dowser.FeedbackReason) bool { return !fr.Fits(kind) })
	}
	writeJSON(w, http.StatusOK, map[string]any{"reasons": list})
}

// putFeedbackReason creates or changes a reason (marketers) and answers
// it as stored, with its kinds.
func (s *Server) putFeedbackReason(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	var fr dowser.FeedbackReason
	if err := decodeRecord(r, &fr, &fr.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.validate(r.Context(), fr, "", "", ""); err != nil {
		s.fail(w, r, err)
		return
	}
	fr, err := s.feedback.PutFeedbackReason(r.Context(), fr)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, fr)
}

// retireFeedbackReason stops offering a reason (marketers); verdicts that
// gave it keep it.
func (s *Server) retireFeedbackReason(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	id, err := pathID(r)
	if err == nil {
		err = s.feedback.RetireFeedbackReason(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putVerdict records the caller's verdict, reason, note and value on an
// alert addressed to them.
func (s *Server) putVerdict(w http.ResponseWriter, r *http.Request, me dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var v dowser.Verdict
	if err := decodeJSON(r, &v); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := v.Validate(); err != nil {
		var p dowser.Problems
		if errors.As(err, &p) {
			err = badFields(p, http.StatusBadRequest)
		}
		s.fail(w, r, err)
		return
	}
	if err := s.feedback.GiveVerdict(r.Context(), me.ID, id, v); err != nil {
		if errors.Is(err, dowser.ErrUnknownReason) || errors.Is(err, dowser.ErrReasonMisfit) {
			err = badFields(dowser.Problems{{Field: "reason", Reason: err.Error()}}, http.StatusBadRequest)
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// feedbackReport answers what the verdicts say over ?weeks=4 or 12.
func (s *Server) feedbackReport(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	weeks, err := queryInt(r, "weeks", 12, maxExportWeeks)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.feedback.FeedbackReport(r.Context(), s.cfg.Now(), weeks)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// exportAlerts answers the alerts of the last ?weeks=N weeks (12 unless
// given) and what their recipients said of them, as CSV.
func (s *Server) exportAlerts(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	weeks, err := queryInt(r, "weeks", 12, maxExportWeeks)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	since := dowser.WeekStart(s.cfg.Now()).AddDate(0, 0, -7*(weeks-1))
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="dowser-alerts-`+since.Format("2006-01-02")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write(dowser.ExportColumns)
	err = s.feedback.ExportFeedback(r.Context(), since, func(rec []string) error {
		for i, v := range rec {
			rec[i] = defuseFormula(v)
		}
		return cw.Write(rec)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		// The status is sent already: log, and let the truncated body and
		// the missing trailer tell a careful reader.
		s.cfg.Logger.Error("exporting alerts failed", "route", r.Pattern, "err", err)
	}
}

// defuseFormula keeps a spreadsheet from running a cell (a rep's note)
// as a formula: a leading = + - @ or tab gets a quote before it.
func defuseFormula(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
