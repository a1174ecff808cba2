package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

type fakeDirectory struct {
	contacts map[string]dowser.Contact
	accounts map[string]dowser.Account
	rules    []dowser.TerritoryRule
	reps     []string
	content  map[string]string      // id or url prefix -> owner
	subs     map[string][]string    // user -> managers subscribed
	roles    map[string]dowser.Role // user -> role, before the prefix rule of role
	err      error
}

// role is a user's role: from roles, else by the id's prefix (rep-,
// mkt-, mgr-, admin); "" for no user.
func (f fakeDirectory) role(id string) dowser.Role {
	if r, ok := f.roles[id]; ok {
		return r
	}
	for prefix, role := range map[string]dowser.Role{"rep-": dowser.RoleRep, "mkt-": dowser.RoleMarketer, "mgr-": dowser.RoleManager, "admin": dowser.RoleAdmin} {
		if strings.HasPrefix(id, prefix) {
			return role
		}
	}
	return ""
}

func (f fakeDirectory) ContactRouting(_ context.Context, id string) (dowser.Contact, dowser.Role, error) {
	c := f.contacts[id]
	return c, f.role(c.OwnerID), f.err
}

func (f fakeDirectory) AccountRouting(_ context.Context, id string) (dowser.Account, dowser.Role, error) {
	a := f.accounts[id]
	return a, f.role(a.OwnerID), nil
}

func (f fakeDirectory) RoutingTerritoryRules(context.Context) ([]dowser.TerritoryRule, []dowser.Role, error) {
	roles := make([]dowser.Role, len(f.rules))
	for i, r := range f.rules {
		roles[i] = f.role(r.RepID)
	}
	return f.rules, roles, nil
}

func (f fakeDirectory) RoleOf(_ context.Context, id string) (dowser.Role, error) {
	return f.role(id), nil
}

func (f fakeDirectory) Reps(context.Context) ([]string, error) { return f.reps, nil }

func (f fakeDirectory) ContentOwners(_ context.Context, ids, urls []string) ([]dowser.Owner, error) {
	var out []dowser.Owner
	for key, owner := range f.content {
		if slices.Contains(ids, key) || slices.ContainsFunc(urls, func(u string) bool { return strings.HasPrefix(u, key) }) {
			out = append(out, dowser.Owner{ID: owner, Role: f.role(owner)})
		}
	}
	slices.SortFunc(out, func(a, b dowser.Owner) int { return strings.Compare(a.ID, b.ID) })
	return slices.Compact(out), nil
}

func (f fakeDirectory) Subscribers(_ context.Context, users []string) ([]string, error) {
	var out []string
	for _, u := range users {
		out = append(out, f.subs[u]...)
	}
	return out, nil
}

type fakePresence map[string]bool

func (p fakePresence) Connected(id string) bool { return p[id] }

func TestRecipients(t *testing.T) {
	dir := fakeDirectory{
		contacts: map[string]dowser.Contact{
			"c-vip":     {OwnerID: "rep-vip"},
			"c-linked":  {AccountID: "acme"},
			"c-emea":    {AccountID: "emea-bank"},
			"c-nothing": {},
		},
		accounts: map[string]dowser.Account{
			"acme":      {OwnerID: "rep-ana"},
			"orphan":    {},
			"emea-bank": {Region: "EMEA", Industry: "banking", Size: "enterprise"},
			"emea-shop": {Region: "emea", Industry: "retail", Size: "smb"},
			"us-bank":   {Region: "us", Industry: "banking"},
		},
		rules: []dowser.TerritoryRule{
			{ID: "emea-banks", Region: "emea", Industry: "banking", RepID: "rep-fin"},
			{ID: "emea", Region: "emea", RepID: "rep-eu"},
			{ID: "banks", Industry: "banking", RepID: "rep-bank"},
		},
		reps:    []string{"rep-ben", "rep-cho", "rep-dan"}, // nobody subscribes to them
		content: map[string]string{"pricing-page": "mkt-jane", "https://x/docs/": "mkt-omar"},
		subs:    map[string][]string{"rep-ana": {"mgr-max"}, "rep-eu": {"mgr-max", "mgr-eva"}},
	}
	// The round-robin rep of an account is fixed by its id: compute it
	// rather than hard-code a hash.
	orphanRep := Rendezvous("account:orphan", dir.reps)
	tests := []struct {
		name  string
		alert schema.Alert
		by    string
		want  []string
	}{
		{"contact owner comes first, before the account's owner",
			schema.Alert{CustomerID: "c-vip", AccountID: "acme", SignalOwner: "mkt-sig"},
			ByContact, []string{"mkt-sig", "rep-vip"}},
		{"account owner, and content owner by id",
			schema.Alert{CustomerID: "c-1", AccountID: "acme", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{ContentID: "pricing-page"}}},
			ByAccount, []string{"mgr-max", "mkt-jane", "rep-ana"}},
		{"the contact's account when the alert names none",
			schema.Alert{CustomerID: "c-linked", SignalOwner: "mkt-sig"},
			ByAccount, []string{"mgr-max", "mkt-sig", "rep-ana"}},
		{"content owner by url prefix, deduplicated",
			schema.Alert{AccountID: "acme", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{URL: "https://x/docs/a"}, {URL: "https://x/docs/b"}}},
			ByAccount, []string{"mgr-max", "mkt-omar", "rep-ana"}},
		{"no owned content: the signal's owner",
			schema.Alert{AccountID: "acme", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{URL: "https://x/blog"}}},
			ByAccount, []string{"mgr-max", "mkt-sig", "rep-ana"}},
		{"no owner: the first matching territory rule, attributes ignoring case",
			schema.Alert{AccountID: "emea-bank", SignalOwner: "mkt-sig"},
			ByTerritory, []string{"mkt-sig", "rep-fin"}},
		{"a contact without owner routes by their account's territory",
			schema.Alert{CustomerID: "c-emea", SignalOwner: "mkt-sig"},
			ByTerritory, []string{"mkt-sig", "rep-fin"}},
		{"a rule with fewer attributes catches the rest of the region; managers follow its rep",
			schema.Alert{AccountID: "emea-shop", SignalOwner: "mkt-sig"},
			ByTerritory, []string{"mgr-eva", "mgr-max", "mkt-sig", "rep-eu"}},
		{"rules are tried in order",
			schema.Alert{AccountID: "us-bank", SignalOwner: "mkt-sig"},
			ByTerritory, []string{"mkt-sig", "rep-bank"}},
		{"no owner and no rule: round-robin among the reps",
			schema.Alert{AccountID: "orphan", SignalOwner: "mkt-sig"},
			ByRoundRobin, []string{"mkt-sig", orphanRep}},
		{"an unknown account is round-robin too",
			schema.Alert{AccountID: "never-seen", SignalOwner: "mkt-sig"},
			ByRoundRobin, []string{"mkt-sig", Rendezvous("account:never-seen", dir.reps)}},
		{"no account at all: round-robin by subject",
			schema.Alert{Subject: "customer:c-nothing", CustomerID: "c-nothing", SignalOwner: "mkt-sig", Evidence: []schema.Evidence{{ContentID: "pricing-page"}}},
			ByRoundRobin, []string{"mkt-jane", Rendezvous("customer:c-nothing", dir.reps)}},
		{"rep is also the signal owner",
			schema.Alert{AccountID: "acme", SignalOwner: "rep-ana"},
			ByAccount, []string{"mgr-max", "rep-ana"}},
	}
	r := NewRouter(dir, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route, err := r.Route(context.Background(), &tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			if route.SalesBy != tt.by {
				t.Errorf("SalesBy = %q, want %q (route %+v)", route.SalesBy, tt.by, route)
			}
			got, err := r.Recipients(context.Background(), &tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Recipients = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoundRobinPrefersConnectedRepsAndIsStable(t *testing.T) {
	reps := []string{"rep-ana", "rep-ben", "rep-cho", "rep-dan"}
	dir := fakeDirectory{reps: reps}
	route := func(p Presence, account string) Route {
		t.Helper()
		got, err := NewRouter(dir, p).Route(context.Background(), &schema.Alert{AccountID: account})
		if err != nil {
			t.Fatal(err)
		}
		if got.SalesBy != ByRoundRobin {
			t.Fatalf("SalesBy = %q, want round-robin", got.SalesBy)
		}
		return got
	}
	// Only one rep connected: every account goes to them.
	for _, acct := range []string{"a1", "a2", "a3"} {
		if got := route(fakePresence{"rep-cho": true}, acct).Sales; got != "rep-cho" {
			t.Errorf("account %s with only rep-cho connected went to %s", acct, got)
		}
	}
	// Nobody connected: all reps are candidates, and an account keeps its
	// rep from one alert to the next.
	counts := map[string]int{}
	for i := range 400 {
		acct := fmt.Sprintf("acct-%d", i)
		first := route(nil, acct).Sales
		if again := route(fakePresence{}, acct).Sales; again != first {
			t.Fatalf("account %s went to %s, then %s", acct, first, again)
		}
		counts[first]++
	}
	// Spread: each of four reps gets a fair share of 400 accounts.
	for _, rep := range reps {
		if counts[rep] < 60 {
			t.Errorf("round-robin spread = %v: %s gets too few", counts, rep)
		}
	}
	// The candidates' order does not matter; a new rep takes over only the
	// accounts it now ranks first for.
	moved := 0
	for i := range 400 {
		key := fmt.Sprintf("account:acct-%d", i)
		before := Rendezvous(key, reps)
		if got := Rendezvous(key, []string{"rep-dan", "rep-cho", "rep-ben", "rep-ana"}); got != before {
			t.Fatalf("order changed the pick for %s: %s vs %s", key, got, before)
		}
		after := Rendezvous(key, append(slices.Clone(reps), "rep-eve"))
		if after != before {
			moved++
			if after != "rep-eve" {
				t.Errorf("%s moved from %s to %s, not to the new rep", key, before, after)
			}
		}
	}
	if moved == 0 || moved > 160 {
		t.Errorf("adding a fifth rep moved %d of 400 accounts, want about 80", moved)
	}
	if got := Rendezvous("k", nil); got != "" {
		t.Errorf("Rendezvous with no candidates = %q", got)
	}
}

func TestRouteWithoutRepsHasNoSalesRecipient(t *testing.T) {
	r := NewRouter(fakeDirectory{}, fakePresence{})
	route, err := r.Route(context.Background(), &schema.Alert{AccountID: "acme", SignalOwner: "mkt-sig"})
	if err != nil {
		t.Fatal(err)
	}
	if route.Sales != "" || route.SalesBy != ByNobody || fmt.Sprint(route.Recipients()) != "[mkt-sig]" {
		t.Errorf("route = %+v, want only the signal owner", route)
	}
}

func TestRouteReportsDirectoryErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewRouter(fakeDirectory{err: boom}, nil)
	_, err := r.Recipients(context.Background(), &schema.Alert{ID: "al-1", CustomerID: "c-1"})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "al-1") {
		t.Errorf("err = %v, want boom naming the alert", err)
	}
}

// A stored owner whose role no longer fits, or who is no user, is skipped:
// routing falls through to the next step and reports the skip.
func TestRouteSkipsOwnersWhoseRoleNoLongerFits(t *testing.T) {
	dir := fakeDirectory{
		contacts: map[string]dowser.Contact{"c-1": {OwnerID: "rep-now-mkt", AccountID: "acme"}},
		accounts: map[string]dowser.Account{
			"acme":   {OwnerID: "gone", Region: "emea"},
			"globex": {OwnerID: "rep-ana"},
		},
		rules:   []dowser.TerritoryRule{{ID: "bad", Region: "emea", RepID: "mkt-jane"}, {ID: "emea", Region: "emea", RepID: "rep-eu"}},
		reps:    []string{"rep-ana", "rep-eu"},
		content: map[string]string{"pricing": "rep-b", "docs": "mkt-omar"},
		roles:   map[string]dowser.Role{"rep-now-mkt": dowser.RoleMarketer},
	}
	r := NewRouter(dir, nil)
	route, err := r.Route(context.Background(), &schema.Alert{CustomerID: "c-1", SignalOwner: "rep-x",
		Evidence: []schema.Evidence{{ContentID: "pricing"}}})
	if err != nil {
		t.Fatal(err)
	}
	if route.Sales != "rep-eu" || route.SalesBy != ByTerritory || route.Rule != "emea" {
		t.Errorf("sales = %s by %s rule %s, want rep-eu by the emea rule", route.Sales, route.SalesBy, route.Rule)
	}
	if len(route.Marketing) != 0 {
		t.Errorf("marketing = %v, want nobody: the content owner is a rep, and so is the signal owner", route.Marketing)
	}
	want := []Skip{
		{ByContact, "rep-now-mkt", "marketer"}, {ByAccount, "gone", ""}, {ByTerritory, "mkt-jane", "marketer"},
		{ByContent, "rep-b", "rep"}, {BySignal, "rep-x", "rep"},
	}
	if fmt.Sprint(route.Skipped) != fmt.Sprint(want) {
		t.Errorf("skipped = %v, want %v", route.Skipped, want)
	}
	// The other content owner still fits: only the rep is dropped.
	route, err = r.Route(context.Background(), &schema.Alert{AccountID: "globex", SignalOwner: "mkt-sig",
		Evidence: []schema.Evidence{{ContentID: "pricing"}, {ContentID: "docs"}}})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(route.Recipients()) != "[mkt-omar rep-ana]" {
		t.Errorf("recipients = %v, want [mkt-omar rep-ana]", route.Recipients())
	}
}
