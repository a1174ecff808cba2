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

// Journey is the storage of the buyer's journey and of who may read it:
// *postgres.Journey.
type Journey interface {
	Timeline(ctx context.Context, q dowser.TimelineQuery) (dowser.TimelinePage, error)
	MaySeeAccount(ctx context.Context, userID, accountID string) (bool, error)
	MaySeeCustomer(ctx context.Context, userID, customerID string) (bool, error)
}

// maxTimelineLimit bounds a page of a timeline.
const maxTimelineLimit = 500

// timelineItem is a journey item as the API answers it, with the link to
// the person's CRM record when one is configured, and who the person is
// when the identity setting and their consent allow.
type timelineItem struct {
	dowser.JourneyItem
	Links  *dowser.AlertLinks `json:"links,omitempty"`
	Person *dowser.Person     `json:"person,omitempty"`
}

// timeline answers GET /v1/accounts/{id}/timeline (byCustomer false) or
// /v1/customers/{id}/timeline: the items of the last days days, newest
// first, a page at a time. Admins may read any; others what they may see
// (see Journey.MaySeeAccount and MaySeeCustomer).
func (s *Server) timeline(byCustomer bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me dowser.User) {
		if s.journey == nil || s.cfg.JourneyDays <= 0 {
			s.fail(w, r, errorf(http.StatusServiceUnavailable, "the buyer's journey is off on this server (--journey-days 0)"))
			return
		}
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		days, err := queryInt(r, "days", s.cfg.JourneyDays, s.cfg.JourneyDays)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		limit, err := queryInt(r, "limit", 100, maxTimelineLimit)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		q := dowser.TimelineQuery{Since: s.cfg.Now().Add(-time.Duration(days) * 24 * time.Hour), Limit: limit}
		if cur := r.URL.Query().Get("cursor"); cur != "" {
			after, err := decodeTimelineCursor(cur)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			q.After = &after
		}
		kind, may := "account", s.journey.MaySeeAccount
		q.AccountID = id
		if byCustomer {
			kind, may = "person", s.journey.MaySeeCustomer
			q.AccountID, q.CustomerID = "", id
		}
		if me.Role != dowser.RoleAdmin {
			ok, err := may(r.Context(), me.ID, id)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if !ok {
				s.fail(w, r, errorf(http.StatusForbidden, "you may read the journey of a %s you own or were sent an alert about, and %s is neither", kind, id))
				return
			}
		}
		page, err := s.journey.Timeline(r.Context(), q)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ids := make([]string, len(page.Items))
		for i, it := range page.Items {
			ids[i] = it.CustomerID
		}
		people := s.whoAre(r, ids)
		items := make([]timelineItem, len(page.Items))
		for i, it := range page.Items {
			items[i] = timelineItem{JourneyItem: it}
			if it.CustomerID != "" {
				items[i].Links = s.cfg.CRM.links(it.AccountID, it.CustomerID)
				items[i].Person = personOf(people, it.CustomerID)
			}
		}
		body := map[string]any{"items": items, "days": days}
		if page.Next != nil {
			body["next"] = encodeTimelineCursor(*page.Next)
		}
		writeJSON(w, http.StatusOK, body)
	}
}

// A timeline cursor is opaque to clients: base64url of "<unix
// microseconds>:<event id>" of the last item of the page before.
func encodeTimelineCursor(c dowser.TimelineCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Time.UnixMicro(), 10) + ":" + c.EventID))
}

func decodeTimelineCursor(cur string) (dowser.TimelineCursor, error) {
	bad := errorf(http.StatusBadRequest, "cursor: %q is not a cursor of this timeline; pass the next of a previous answer", cur)
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return dowser.TimelineCursor{}, bad
	}
	micros, id, ok := strings.Cut(string(b), ":")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" {
		return dowser.TimelineCursor{}, bad
	}
	return dowser.TimelineCursor{Time: time.UnixMicro(us), EventID: id}, nil
}
