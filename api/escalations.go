package api

import (
	"context"
	"net/http"

	"github.com/dowserhq/dowser"
)

// Escalations serves the follow-up of alerts (their escalation steps) and
// users' calendars: working hours and absences.
type Escalations interface {
	EscalationSteps(ctx context.Context, alertID string) ([]dowser.EscalationStep, error)
	// CanSeeAlert reports whether the alert exists and userID ("" for an
	// admin: anyone's) may read it.
	CanSeeAlert(ctx context.Context, alertID, userID string) (bool, error)
	Calendar(ctx context.Context, userID string) (dowser.Calendar, error)
	PutCalendar(ctx context.Context, c dowser.Calendar) error
}

// escalationRoutes adds the follow-up routes: an alert's steps for its
// recipients, their managers and admins; a calendar for its user and
// admins.
func (s *Server) escalationRoutes() {
	s.mux.HandleFunc("GET /v1/alerts/{id}/escalations", s.auth(people, s.alertEscalations))
	s.mux.HandleFunc("GET /v1/users/{id}/calendar", s.auth(people, s.getCalendar))
	s.mux.HandleFunc("PUT /v1/users/{id}/calendar", s.auth(people, s.putCalendar))
}

func (s *Server) escalationsOn(w http.ResponseWriter, r *http.Request) bool {
	if s.escalations == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "follow-up rules are not available on this server"))
		return false
	}
	return true
}

func (s *Server) alertEscalations(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.escalationsOn(w, r) {
		return
	}
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reader := me.ID
	if me.Role == dowser.RoleAdmin {
		reader = ""
	}
	ok, err := s.escalations.CanSeeAlert(r.Context(), id, reader)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		// The same answer for an alert that does not exist and one the
		// caller may not read: ids are not to be probed.
		s.fail(w, r, errorf(http.StatusNotFound, "alert %s: not found", id))
		return
	}
	steps, err := s.escalations.EscalationSteps(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alert_id": id, "escalations": steps})
}

// calendarOwner is the user whose calendar the request names: the
// caller's own, or anyone's for an admin.
func (s *Server) calendarOwner(r *http.Request, me dowser.User) (string, error) {
	id, err := pathID(r)
	if err != nil {
		return "", err
	}
	if id != me.ID && me.Role != dowser.RoleAdmin {
		return "", errorf(http.StatusForbidden, "only %s or an admin may read or change the calendar of %s", id, id)
	}
	return id, nil
}

func (s *Server) getCalendar(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.escalationsOn(w, r) {
		return
	}
	id, err := s.calendarOwner(r, me)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c, err := s.escalations.Calendar(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) putCalendar(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if !s.escalationsOn(w, r) {
		return
	}
	id, err := s.calendarOwner(r, me)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var c dowser.Calendar
	if err := decodeJSON(r, &c); err != nil {
		s.fail(w, r, err)
		return
	}
	if c.UserID != "" && c.UserID != id {
		s.fail(w, r, errorf(http.StatusBadRequest, "user_id: %q differs from the path's %q", c.UserID, id))
		return
	}
	c.UserID = id
	if c.TimeZone == "" {
		c.TimeZone = "UTC"
	}
	if c.WorkDays == nil {
		c.WorkDays = []string{}
	}
	if err := badFieldsOf(c.Validate()); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.escalations.PutCalendar(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
