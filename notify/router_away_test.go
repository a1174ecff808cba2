package notify

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// fakeAbsences is out of office: a set of users, who are away at any time
// before back.
type fakeAbsences struct {
	away map[string]bool
	back time.Time
}

func (f fakeAbsences) Away(_ context.Context, ids []string, at time.Time) ([]string, error) {
	var out []string
	for _, id := range ids {
		if f.away[id] && at.Before(f.back) {
			out = append(out, id)
		}
	}
	return out, nil
}

// An owner who is away is passed over for the first present rep of the
// matching territory rules, and their managers follow; with nobody in the
// territory the managers alone receive it; a present owner keeps it.
func TestRoutingSkipsUsersOutOfOffice(t *testing.T) {
	dir := fakeDirectory{
		accounts: map[string]dowser.Account{
			"acme":  {OwnerID: "rep-ana", Region: "emea"},
			"lone":  {OwnerID: "rep-ana", Region: "apac"},
			"other": {Region: "emea"},
		},
		rules: []dowser.TerritoryRule{
			{ID: "r1", Region: "emea", RepID: "rep-ana"},
			{ID: "r2", Region: "emea", RepID: "rep-cara"},
			{ID: "r3", Region: "emea", RepID: "rep-ben"},
		},
		reps: []string{"rep-ana", "rep-ben", "rep-cara"},
		subs: map[string][]string{"rep-ana": {"mgr-max"}},
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	abs := fakeAbsences{away: map[string]bool{"rep-ana": true, "rep-cara": true}, back: now.Add(time.Hour)}
	clock := now
	r := NewRouter(dir, nil).SkipAway(abs, func() time.Time { return clock })
	for _, tc := range []struct {
		name    string
		account string
		by      string
		want    []string
	}{
		{"owner away: next territory rep", "acme", ByTerritory, []string{"mgr-max", "rep-ben"}},
		{"territory rep away: next rule's", "other", ByTerritory, []string{"mgr-max", "rep-ben"}},
		{"nobody in the territory: the managers", "lone", ByManagers, []string{"mgr-max"}},
	} {
		route, err := r.Route(context.Background(), &schema.Alert{AccountID: tc.account})
		if err != nil {
			t.Fatal(err)
		}
		if got := route.Recipients(); route.SalesBy != tc.by || !slices.Equal(got, tc.want) {
			t.Errorf("%s: by %q to %v, want by %q to %v (route %+v)", tc.name, route.SalesBy, got, tc.by, tc.want, route)
		}
	}
	clock = now.Add(time.Hour) // back
	route, err := r.Route(context.Background(), &schema.Alert{AccountID: "acme"})
	if err != nil || route.Sales != "rep-ana" || route.SalesBy != ByAccount {
		t.Errorf("owner back: %+v, %v; want rep-ana by account", route, err)
	}
}
