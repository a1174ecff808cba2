package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// Alerts is the storage of the alerts sent and of what their recipients
// did with them.
type Alerts interface {
	FindAlerts(ctx context.Context, q dowser.AlertQuery) (dowser.AlertPage, error)
	Snooze(ctx context.Context, userID, alertID string, until time.Time) error
	SignalPrecision(ctx context.Context, signalID string) (dowser.Precision, error)
	ListPrecision(ctx context.Context) ([]dowser.Precision, error)
}

// maxSnooze bounds a snooze: an alert put away for longer is better
// judged not useful.
const maxSnooze = 90 * 24 * time.Hour

var priorities = []string{schema.PriorityUrgent, schema.PriorityHigh, schema.PriorityMedium, schema.PriorityLow}

// listAlerts lists a page of the caller's own alerts, newest first, with
// the filters of the query; admins see every alert unless they ask for
// their own (mine=true). The answer's next
// continues the listing.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, me dowser.User) {
	q, err := alertQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	mine, err := queryBool(r, "mine")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if me.Role != dowser.RoleAdmin || mine {
		q.UserID = me.ID
	} else if q.State != "" {
		s.fail(w, r, errorf(http.StatusBadRequest, "state: an admin lists every alert, which has no state of its own; add mine=true to list your own alerts by state"))
		return
	}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		after, err := decodeCursor(cur, q.UserID != "")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		q.After = &after
	}
	page, err := s.alerts.FindAlerts(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]string, len(page.Alerts))
	for i, la := range page.Alerts {
		ids[i] = la.CustomerID
	}
	people := s.whoAre(r, ids)
	for i := range page.Alerts {
		la := &page.Alerts[i]
		la.Links = s.cfg.CRM.links(la.AccountID, la.CustomerID)
		la.Person = personOf(people, la.CustomerID)
	}
	body := map[string]any{"alerts": page.Alerts}
	if page.Next != nil {
		body["next"] = encodeCursor(*page.Next, q.UserID != "")
	}
	writeJSON(w, http.StatusOK, body)
}

// queryBool reads a true/false query parameter; absent is false.
func queryBool(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, errorf(http.StatusBadRequest, "%s: %q is not true or false", name, v)
	}
}

// alertQuery reads GET /v1/alerts' filters, naming the first one refused.
func alertQuery(r *http.Request) (dowser.AlertQuery, error) {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return dowser.AlertQuery{}, err
	}
	v := r.URL.Query()
	q := dowser.AlertQuery{Limit: limit, AccountID: v.Get("account"), AccountSearch: strings.TrimSpace(v.Get("account_q")),
		SignalID: v.Get("signal"), State: v.Get("state")}
	if fe := dowser.CheckText("account_q", q.AccountSearch, dowser.MaxNameLen); fe != nil {
		return q, errorf(http.StatusBadRequest, "%v", fe)
	}
	for name, id := range map[string]string{"account": q.AccountID, "signal": q.SignalID} {
		if id == "" {
			continue
		}
		if fe := dowser.CheckID(name, id); fe != nil {
			return q, errorf(http.StatusBadRequest, "%v", fe)
		}
	}
	for _, list := range v["priority"] {
		for p := range strings.SplitSeq(list, ",") {
			if !slices.Contains(priorities, p) {
				return q, errorf(http.StatusBadRequest, "priority: %q is not one of %s", p, strings.Join(priorities, ", "))
			}
			q.Priorities = append(q.Priorities, p)
		}
	}
	switch q.State {
	case "", dowser.AlertNew, dowser.AlertAcked, dowser.AlertSnoozed, dowser.AlertJudged:
	default:
		return q, errorf(http.StatusBadRequest, "state: %q is not one of new, acked, snoozed, verdict", q.State)
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, errorf(http.StatusBadRequest, "%s: %q is not a time like 2026-11-23T07:00:00Z", f.name, s)
			}
			*f.to = t
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, errorf(http.StatusBadRequest, "from (%s) must be before to (%s)", v.Get("from"), v.Get("to"))
	}
	return q, nil
}

// A cursor is opaque to clients: base64url of "s<seq>" in a recipient's
// listing, "t<unix microseconds>:<alert id>" in an admin's.
func encodeCursor(c dowser.AlertCursor, byRecipient bool) string {
	var s string
	if byRecipient {
		s = "s" + strconv.FormatInt(c.Seq, 10)
	} else {
		s = "t" + strconv.FormatInt(c.Created.UnixMicro(), 10) + ":" + c.ID
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func decodeCursor(cur string, byRecipient bool) (dowser.AlertCursor, error) {
	bad := errorf(http.StatusBadRequest, "cursor: %q is not a cursor of this listing; pass the next of a previous answer", cur)
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil || len(b) < 2 {
		return dowser.AlertCursor{}, bad
	}
	s := string(b[1:])
	switch {
	case byRecipient && b[0] == 's':
		seq, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return dowser.AlertCursor{}, bad
		}
		return dowser.AlertCursor{Seq: seq}, nil
	case !byRecipient && b[0] == 't':
		micros, id, ok := strings.Cut(s, ":")
		us, err := strconv.ParseInt(micros, 10, 64)
		if !ok || err != nil || dowser.CheckID("cursor", id) != nil {
			return dowser.AlertCursor{}, bad
		}
		return dowser.AlertCursor{Created: time.UnixMicro(us), ID: id}, nil
	}
	return dowser.AlertCursor{}, bad
}

// snoozeRequest is the body of PUT /v1/alerts/{id}/snooze.
type snoozeRequest struct {
	Until time.Time `json:"until"`
}

// snooze puts one of the caller's alerts away until a time, or (DELETE)
// brings it back at once.
func (s *Server) snooze(on bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me dowser.User) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var until time.Time
		if on {
			var req snoozeRequest
			if err := decodeJSON(r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
			now := s.cfg.Now()
			switch {
			case req.Until.IsZero():
				s.fail(w, r, errorf(http.StatusBadRequest, "until: required, a time like 2026-11-23T07:00:00Z"))
				return
			case !req.Until.After(now):
				s.fail(w, r, errorf(http.StatusBadRequest, "until: %s is not in the future", req.Until.Format(time.RFC3339)))
				return
			case req.Until.Sub(now) > maxSnooze:
				s.fail(w, r, errorf(http.StatusBadRequest, "until: %s is more than %d days ahead", req.Until.Format(time.RFC3339), int(maxSnooze/(24*time.Hour))))
				return
			}
			until = req.Until
		}
		if err := s.alerts.Snooze(r.Context(), me.ID, id, until); err != nil {
			s.fail(w, r, err)
			return
		}
		body := map[string]any{"id": id, "snoozed_until": nil}
		if on {
			body["snoozed_until"] = until.UTC()
		}
		writeJSON(w, http.StatusOK, body)
	}
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
