package preview

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/schema"
)

// rerouteAlerts is how many of the most recent alerts a reroute preview
// routes again, and rerouteListed how many changed ones it lists.
const (
	rerouteAlerts = 1000
	rerouteListed = 50
)

// Content answers POST /v1/content/{id}/impact: it routes the most recent
// alerts' marketing recipients twice with notify's router, over the
// content items as stored and as they would be with the change, and
// reports the alerts whose recipients differ.
type Content struct {
	Directory ContentDirectory
	Alerts    RecentAlerts
}

// ContentDirectory is the content items and users' roles a content
// preview reads: *postgres.Directory.
type ContentDirectory interface {
	ListContent(ctx context.Context) ([]dowser.Content, error)
	UserRoles(ctx context.Context, ids []string) (map[string]dowser.Role, error)
}

// RecentAlerts lists the alerts a content preview routes again:
// *postgres.Alerts.
type RecentAlerts interface {
	ListAlerts(ctx context.Context, userID string, limit int) ([]dowser.ListedAlert, error)
}

// ContentImpact answers what saving c would change (api.ReroutePreviewer).
func (p Content) ContentImpact(ctx context.Context, c dowser.Content) (dowser.ContentImpact, error) {
	out := dowser.ContentImpact{ContentID: c.ID, Alerts: []dowser.ReroutedAlert{}, Gain: []string{}, Lose: []string{}}
	before, err := p.Directory.ListContent(ctx)
	if err != nil {
		return out, err
	}
	after := slices.DeleteFunc(slices.Clone(before), func(have dowser.Content) bool { return have.ID == c.ID })
	after = append(after, c)
	listed, err := p.Alerts.ListAlerts(ctx, "", rerouteAlerts)
	if err != nil {
		return out, err
	}
	alerts := make([]*schema.Alert, 0, len(listed))
	users := []string{c.OwnerID}
	for _, item := range before {
		users = append(users, item.OwnerID)
	}
	for _, la := range listed {
		var a schema.Alert
		if err := json.Unmarshal(la.Alert, &a); err != nil {
			return out, fmt.Errorf("reading a stored alert: %w", err)
		}
		alerts = append(alerts, &a)
		users = append(users, a.SignalOwner)
	}
	roles, err := p.Directory.UserRoles(ctx, users)
	if err != nil {
		return out, err
	}
	was := notify.NewRouter(contentDirectory{before, roles}, nil)
	would := notify.NewRouter(contentDirectory{after, roles}, nil)
	gain, lose := map[string]bool{}, map[string]bool{}
	for _, a := range alerts {
		r1, err := was.Route(ctx, a)
		if err != nil {
			return out, err
		}
		r2, err := would.Route(ctx, a)
		if err != nil {
			return out, err
		}
		m1, m2 := sortedSet(r1.Marketing), sortedSet(r2.Marketing)
		if slices.Equal(m1, m2) {
			continue
		}
		out.Rerouted++
		for _, u := range m2 {
			if !slices.Contains(m1, u) {
				gain[u] = true
			}
		}
		for _, u := range m1 {
			if !slices.Contains(m2, u) {
				lose[u] = true
			}
		}
		if len(out.Alerts) < rerouteListed {
			out.Alerts = append(out.Alerts, dowser.ReroutedAlert{ID: a.ID, SignalID: a.SignalID, AccountID: a.AccountID, Time: a.Time, Before: m1, After: m2})
		}
	}
	out.AlertsExamined = len(alerts)
	out.Gain, out.Lose = sortedKeys(gain), sortedKeys(lose)
	return out, nil
}

func sortedSet(ids []string) []string {
	out := slices.Clone(ids)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// contentDirectory is a notify.Directory over a list of content items and
// users' roles, for routing marketing recipients only: it knows no
// contacts, accounts, rules, reps or managers. Content matches as
// postgres.Directory.ContentOwners matches it: by id, or by url_prefix.
type contentDirectory struct {
	content []dowser.Content
	roles   map[string]dowser.Role
}

var _ notify.Directory = contentDirectory{}

func (contentDirectory) ContactRouting(context.Context, string) (dowser.Contact, dowser.Role, error) {
	return dowser.Contact{}, "", nil
}

func (contentDirectory) AccountRouting(context.Context, string) (dowser.Account, dowser.Role, error) {
	return dowser.Account{}, "", nil
}

func (contentDirectory) RoutingTerritoryRules(context.Context) ([]dowser.TerritoryRule, []dowser.Role, error) {
	return nil, nil, nil
}

func (contentDirectory) Reps(context.Context) ([]string, error) { return nil, nil }

func (contentDirectory) Subscribers(context.Context, []string) ([]string, error) { return nil, nil }

func (d contentDirectory) RoleOf(_ context.Context, id string) (dowser.Role, error) {
	return d.roles[id], nil
}

func (d contentDirectory) ContentOwners(_ context.Context, ids, urls []string) ([]dowser.Owner, error) {
	var out []dowser.Owner
	for _, c := range d.content {
		if c.OwnerID == "" {
			continue
		}
		match := slices.Contains(ids, c.ID) ||
			c.URLPrefix != "" && slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, c.URLPrefix) })
		if match {
			out = append(out, dowser.Owner{ID: c.OwnerID, Role: d.roles[c.OwnerID]})
		}
	}
	slices.SortFunc(out, func(a, b dowser.Owner) int { return strings.Compare(a.ID, b.ID) })
	return slices.Compact(out), nil
}
