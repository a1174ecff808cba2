package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
)

// Team is the storage behind managers' team views: what the reps a
// manager follows did with their alerts, whom a manager may follow, and
// the counts and followers the panels need.
type Team interface {
	Team(ctx context.Context, managerID string, since time.Time) (dowser.Team, error)
	TeamAlerts(ctx context.Context, q dowser.TeamQuery) (dowser.TeamPage, error)
	Followable(ctx context.Context, managerID string) ([]dowser.Followable, error)
	Followers(ctx context.Context, userID string) ([]string, error)
	UnackedCount(ctx context.Context, userID string) (int64, error)
}

// managers may read a team view: their own, or (admins) anyone's.
var managers = roles{dowser.RoleManager, dowser.RoleAdmin}

// Bounds of a team view: the days it covers, and the page of alerts.
const (
	defaultTeamDays = 30
	maxTeamDays     = 365
	defaultTeamPage = 50
	maxTeamPage     = 500
)

// teamRoutes registers the team view, the subscriptions and the count of
// unacknowledged alerts (#15). Escalation steps, once recorded, belong in
// the team view's alerts beside the acknowledgement.
func (s *Server) teamRoutes() {
	s.mux.HandleFunc("GET /v1/team", s.auth(managers, s.getTeam))
	s.mux.HandleFunc("GET /v1/managers/{id}/subscriptions", s.auth(managers, s.listSubscriptions))
	s.mux.HandleFunc("PUT /v1/managers/{id}/subscriptions/{rep}", s.auth(managers, s.subscription(true)))
	s.mux.HandleFunc("DELETE /v1/managers/{id}/subscriptions/{rep}", s.auth(managers, s.subscription(false)))
	s.mux.HandleFunc("GET /v1/alerts/unacked", s.auth(people, s.unackedCount))
}

// teamManager is the manager whose team or subscriptions the caller may
// see or change: themself, or for an admin the one named (id, the path's
// {id} or ?manager=).
func teamManager(me dowser.User, field, id string) (string, error) {
	if id == "" {
		if me.Role == dowser.RoleAdmin {
			return "", errorf(http.StatusBadRequest, "%s: required for an admin, who follows no reps; name the manager whose team to read", field)
		}
		return me.ID, nil
	}
	if fe := dowser.CheckID(field, id); fe != nil {
		return "", errorf(http.StatusBadRequest, "%v", fe)
	}
	if me.Role != dowser.RoleAdmin && id != me.ID {
		return "", errorf(http.StatusForbidden, "%s: a manager reads and changes their own team only, not %q's", field, id)
	}
	return id, nil
}

// getTeam answers the team view: the reps the manager follows with their
// counts and median times over ?days=N (30 unless given), and a page of
// their alerts, ?state=unacted (the default) or acted.
func (s *Server) getTeam(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if s.team == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "the team view is not available on this server"))
		return
	}
	managerID, err := teamManager(me, "manager", r.URL.Query().Get("manager"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if me.ID != managerID {
		if err := s.requireManager(r.Context(), "manager", managerID); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	days, err := queryInt(r, "days", defaultTeamDays, maxTeamDays)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", defaultTeamPage, maxTeamPage)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := dowser.TeamQuery{ManagerID: managerID, Since: s.cfg.Now().Add(-time.Duration(days) * 24 * time.Hour), State: r.URL.Query().Get("state"), Limit: limit}
	switch q.State {
	case "":
		q.State = dowser.TeamUnacted
	case dowser.TeamUnacted, dowser.TeamActed:
	default:
		s.fail(w, r, errorf(http.StatusBadRequest, "state: %q is not unacted or acted", q.State))
		return
	}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		after, err := decodeTeamCursor(cur)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		q.After = &after
	}
	team, err := s.team.Team(r.Context(), managerID, q.Since)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page, err := s.team.TeamAlerts(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body := map[string]any{"manager": team.Manager, "since": team.Since, "reps": team.Reps, "state": q.State, "alerts": page.Alerts}
	if page.Next != nil {
		body["next"] = encodeTeamCursor(*page.Next)
	}
	writeJSON(w, http.StatusOK, body)
}

// requireManager answers 404 for an unknown user and 400 for a user who
// is no manager.
func (s *Server) requireManager(ctx context.Context, field, id string) error {
	u, err := s.people.GetUser(ctx, id)
	if err != nil {
		return err
	}
	if u.Role != dowser.RoleManager {
		return errorf(http.StatusBadRequest, "%s: %q is a %s, not a manager", field, id, u.Role)
	}
	return nil
}

// listSubscriptions answers the reps the manager may follow, by name, and
// whether they do.
func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if s.team == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "subscriptions cannot be listed on this server"))
		return
	}
	managerID, err := teamManager(me, "id", r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.requireManager(r.Context(), "id", managerID); err != nil {
		s.fail(w, r, err)
		return
	}
	reps, err := s.team.Followable(r.Context(), managerID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"manager": managerID, "reps": reps})
}

// unackedCount answers how many of the caller's alerts are neither
// acknowledged nor snoozed: the panel's header, whatever pages it loaded.
func (s *Server) unackedCount(w http.ResponseWriter, r *http.Request, me dowser.User) {
	if s.team == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "the count is not available on this server"))
		return
	}
	n, err := s.team.UnackedCount(r.Context(), me.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"unacked": n})
}

// A team cursor is opaque to clients: base64url of
// "<unix microseconds>:<rep id>:<seq>".
func encodeTeamCursor(c dowser.TeamCursor) string {
	s := strconv.FormatInt(c.At.UnixMicro(), 10) + ":" + c.UserID + ":" + strconv.FormatInt(c.Seq, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeTeamCursor(cur string) (dowser.TeamCursor, error) {
	bad := errorf(http.StatusBadRequest, "cursor: %q is not a cursor of this listing; pass the next of a previous answer", cur)
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return dowser.TeamCursor{}, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 3 || dowser.CheckID("cursor", parts[1]) != nil {
		return dowser.TeamCursor{}, bad
	}
	us, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return dowser.TeamCursor{}, bad
	}
	return dowser.TeamCursor{At: time.UnixMicro(us), UserID: parts[1], Seq: seq}, nil
}
