package api

import (
	"context"
	"net/http"

	"github.com/dowserhq/dowser"
)

// Alerts is the storage of the alerts sent and of what their recipients
// did with them.
type Alerts interface {
	ListAlerts(ctx context.Context, userID string, limit int) ([]dowser.ListedAlert, error)
	SignalPrecision(ctx context.Context, signalID string) (dowser.Precision, error)
	ListPrecision(ctx context.Context) ([]dowser.Precision, error)
}

// listAlerts lists the caller's own alerts, newest first; admins see every
// alert.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, me dowser.User) {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	user := me.ID
	if me.Role == dowser.RoleAdmin {
		user = ""
	}
	alerts, err := s.alerts.ListAlerts(r.Context(), user, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts})
}

// signalPrecision answers what the recipients of the signal's alerts did
// with them.
func (s *Server) signalPrecision(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveGet(s, w, r, s.alerts.SignalPrecision)
}

// listPrecision answers signalPrecision for every signal, by id.
func (s *Server) listPrecision(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveList(s, w, r, "precision", s.alerts.ListPrecision)
}
