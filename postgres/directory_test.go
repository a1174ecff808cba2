package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

func putUsers(t *testing.T, s *postgres.Store, users ...dowser.User) {
	t.Helper()
	for _, u := range users {
		if err := s.People.PutUser(context.Background(), u, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestContactsAndAccountsForRouting(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	putUsers(t, s, dowser.User{ID: "rep-ana", Name: "Ana", Role: dowser.RoleRep}, dowser.User{ID: "rep-ben", Name: "Ben", Role: dowser.RoleRep},
		dowser.User{ID: "mkt-jane", Name: "Jane", Role: dowser.RoleMarketer})
	if err := s.Directory.PutContact(ctx, dowser.Contact{ID: "c-1", OwnerID: "rep-ben", AccountID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Directory.PutContact(ctx, dowser.Contact{ID: "c-gone", OwnerID: "rep-left"}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Directory.GetContact(ctx, "c-1"); err != nil || c.ID != "c-1" || c.OwnerID != "rep-ben" || c.AccountID != "acme" ||
		c.IdentityConsent == nil || *c.IdentityConsent || c.Name != "" {
		t.Errorf("GetContact = %+v, %v", c, err)
	}
	if _, err := s.Directory.GetContact(ctx, "c-none"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("GetContact of an unknown contact: %v, want ErrNotFound", err)
	}
	for id, want := range map[string]struct {
		c    dowser.Contact
		role dowser.Role
	}{
		"c-1":    {dowser.Contact{ID: "c-1", OwnerID: "rep-ben", AccountID: "acme"}, "rep"},
		"c-gone": {dowser.Contact{ID: "c-gone", OwnerID: "rep-left"}, ""}, // the owner is no user: no role
		"c-none": {dowser.Contact{ID: "c-none"}, ""},
	} {
		if got, role, err := s.Directory.ContactRouting(ctx, id); err != nil || got != want.c || role != want.role {
			t.Errorf("ContactRouting(%s) = %+v, %q, %v; want %+v, %q", id, got, role, err, want.c, want.role)
		}
	}

	acme := dowser.Account{ID: "acme", Name: "Acme", OwnerID: "rep-ana", Lifecycle: "customer", Region: "emea", Industry: "banking", Size: "smb"}
	if err := s.Directory.PutAccount(ctx, acme); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Directory.GetAccount(ctx, "acme"); err != nil || got != acme {
		t.Errorf("GetAccount = %+v, %v; want %+v", got, err, acme)
	}
	if got, role, err := s.Directory.AccountRouting(ctx, "acme"); err != nil || got != acme || role != "rep" {
		t.Errorf("AccountRouting = %+v, %q, %v; want %+v, rep", got, role, err, acme)
	}
	if err := s.Directory.PutAccount(ctx, dowser.Account{ID: "acme", Name: "Acme", OwnerID: "rep-left", Lifecycle: "prospect", Region: "emea"}); err != nil {
		t.Fatal(err)
	}
	if got, role, err := s.Directory.AccountRouting(ctx, "acme"); err != nil || got.OwnerID != "rep-left" || role != "" || got.Region != "emea" || got.Industry != "" {
		t.Errorf("AccountRouting with an owner who is no user = %+v, %q, %v; want rep-left without a role, region emea", got, role, err)
	}
	if got, role, err := s.Directory.AccountRouting(ctx, "none"); err != nil || got != (dowser.Account{ID: "none"}) || role != "" {
		t.Errorf("AccountRouting of an unknown account = %+v, %q, %v", got, role, err)
	}
	reps, err := s.Directory.Reps(ctx)
	if err != nil || fmt.Sprint(reps) != "[rep-ana rep-ben]" {
		t.Errorf("Reps = %v, %v", reps, err)
	}
}

func TestTerritoryRules(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	putUsers(t, s, dowser.User{ID: "rep-ana", Name: "Ana", Role: dowser.RoleRep}, dowser.User{ID: "rep-ben", Name: "Ben", Role: dowser.RoleRep})
	for _, r := range []dowser.TerritoryRule{
		{ID: "z-first", Priority: 1, Region: "emea", RepID: "rep-ana"},
		{ID: "catch-all", Priority: 100, RepID: "rep-ben"},
		{ID: "a-second", Priority: 2, Industry: "banking", Size: "smb", RepID: "rep-ben"},
		{ID: "b-second", Priority: 2, Region: "us", RepID: "rep-gone"},
	} {
		if err := s.Directory.PutTerritoryRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(rs []dowser.TerritoryRule) (out []string) {
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	all, err := s.Directory.ListTerritoryRules(ctx)
	if err != nil || fmt.Sprint(ids(all)) != "[z-first a-second b-second catch-all]" {
		t.Errorf("ListTerritoryRules = %v, %v; want by priority then id", ids(all), err)
	}
	routing, roles, err := s.Directory.RoutingTerritoryRules(ctx)
	if err != nil || fmt.Sprint(ids(routing)) != "[z-first a-second b-second catch-all]" || fmt.Sprint(roles) != "[rep rep  rep]" {
		t.Errorf("RoutingTerritoryRules = %v %q, %v; want every rule, the gone rep without a role", ids(routing), roles, err)
	}
	want := dowser.TerritoryRule{ID: "a-second", Priority: 2, Industry: "banking", Size: "smb", RepID: "rep-ben"}
	if got, err := s.Directory.GetTerritoryRule(ctx, "a-second"); err != nil || got != want {
		t.Errorf("GetTerritoryRule = %+v, %v", got, err)
	}
	want.Priority = 0
	if err := s.Directory.PutTerritoryRule(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Directory.GetTerritoryRule(ctx, "a-second"); got != want {
		t.Errorf("updated rule = %+v, want %+v", got, want)
	}
	if err := s.Directory.DeleteTerritoryRule(ctx, "a-second"); err != nil {
		t.Fatal(err)
	}
	if err := s.Directory.DeleteTerritoryRule(ctx, "a-second"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if _, err := s.Directory.GetTerritoryRule(ctx, "a-second"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("reading a deleted rule: %v, want ErrNotFound", err)
	}
}

func TestManagerSubscriptions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	putUsers(t, s,
		dowser.User{ID: "rep-ana", Name: "Ana", Role: dowser.RoleRep}, dowser.User{ID: "rep-ben", Name: "Ben", Role: dowser.RoleRep},
		dowser.User{ID: "mgr-max", Name: "Max", Role: dowser.RoleManager}, dowser.User{ID: "mgr-eva", Name: "Eva", Role: dowser.RoleManager})
	for _, sub := range [][2]string{{"mgr-max", "rep-ana"}, {"mgr-max", "rep-ben"}, {"mgr-eva", "rep-ben"}, {"mgr-eva", "rep-ben"}} {
		if err := s.People.Subscribe(ctx, sub[0], sub[1]); err != nil {
			t.Fatalf("subscribing %v: %v", sub, err)
		}
	}
	if err := s.People.Subscribe(ctx, "mgr-max", "rep-nobody"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("subscribing to an unknown rep: %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		users []string
		want  string
	}{
		{[]string{"rep-ana"}, "[mgr-max]"},
		{[]string{"rep-ben", "mkt-jane"}, "[mgr-eva mgr-max]"},
		{[]string{"mkt-jane"}, "[]"},
	} {
		if got, err := s.Directory.Subscribers(ctx, tc.users); err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("Subscribers(%v) = %v, %v; want %s", tc.users, got, err, tc.want)
		}
	}
	if err := s.People.Unsubscribe(ctx, "mgr-max", "rep-ben"); err != nil {
		t.Fatal(err)
	}
	if err := s.People.Unsubscribe(ctx, "mgr-max", "rep-ben"); err != nil {
		t.Errorf("unsubscribing twice: %v", err)
	}
	if got, _ := s.People.Subscriptions(ctx, "mgr-max"); fmt.Sprint(got) != "[rep-ana]" {
		t.Errorf("Subscriptions(mgr-max) = %v, want [rep-ana]", got)
	}
	// A manager who becomes a rep no longer follows anyone.
	putUsers(t, s, dowser.User{ID: "mgr-eva", Name: "Eva", Role: dowser.RoleRep})
	if got, _ := s.Directory.Subscribers(ctx, []string{"rep-ben"}); len(got) != 0 {
		t.Errorf("Subscribers(rep-ben) = %v after mgr-eva became a rep, want none", got)
	}
}

// A disabled or deleted user owns nothing for routing: every lookup the
// router makes sees them as no user, so the alert falls through to the
// next step instead of reaching someone who can no longer read it.
func TestRoutingLookupsPassOverInactiveUsers(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	putUsers(t, s,
		dowser.User{ID: "rep-off", Name: "Off", Role: dowser.RoleRep, Disabled: true},
		dowser.User{ID: "rep-gone", Name: "Gone", Role: dowser.RoleRep},
		dowser.User{ID: "rep-on", Name: "On", Role: dowser.RoleRep},
		dowser.User{ID: "mgr-off", Name: "Mgr", Role: dowser.RoleManager, Disabled: true},
		dowser.User{ID: "mkt-gone", Name: "Mkt", Role: dowser.RoleMarketer},
		dowser.User{ID: "admin", Name: "Admin", Role: dowser.RoleAdmin},
	)
	for _, id := range []string{"rep-gone", "mkt-gone"} {
		if err := s.People.DeleteUser(ctx, id); err != nil {
			t.Fatalf("DeleteUser(%s): %v", id, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Directory.PutContact(ctx, dowser.Contact{ID: "c-1", OwnerID: "rep-off"}))
	must(s.Directory.PutAccount(ctx, dowser.Account{ID: "acme", Name: "Acme", OwnerID: "rep-gone", Lifecycle: "prospect"}))
	must(s.Directory.PutTerritoryRule(ctx, dowser.TerritoryRule{ID: "r-1", Priority: 1, RepID: "rep-off"}))
	must(s.Directory.PutContent(ctx, dowser.Content{ID: "pricing", Title: "Pricing", URLPrefix: "https://example.com/pricing", OwnerID: "mkt-gone"}))
	must(s.People.Subscribe(ctx, "mgr-off", "rep-on"))

	if _, role, err := s.Directory.ContactRouting(ctx, "c-1"); err != nil || role != "" {
		t.Errorf("ContactRouting owner role = %q, %v; want none for a disabled owner", role, err)
	}
	if _, role, err := s.Directory.AccountRouting(ctx, "acme"); err != nil || role != "" {
		t.Errorf("AccountRouting owner role = %q, %v; want none for a deleted owner", role, err)
	}
	if _, roles, err := s.Directory.RoutingTerritoryRules(ctx); err != nil || len(roles) != 1 || roles[0] != "" {
		t.Errorf("RoutingTerritoryRules rep roles = %q, %v; want one rule whose rep has no role", roles, err)
	}
	if owners, err := s.Directory.ContentOwners(ctx, []string{"pricing"}, nil); err != nil || len(owners) != 1 || owners[0].Role != "" {
		t.Errorf("ContentOwners = %+v, %v; want mkt-gone without a role", owners, err)
	}
	if subs, err := s.Directory.Subscribers(ctx, []string{"rep-on"}); err != nil || len(subs) != 0 {
		t.Errorf("Subscribers = %v, %v; want none: the manager is disabled", subs, err)
	}
	if reps, err := s.Directory.Reps(ctx); err != nil || fmt.Sprint(reps) != "[rep-on]" {
		t.Errorf("Reps = %v, %v; want [rep-on]", reps, err)
	}
	if roles, err := s.Directory.UserRoles(ctx, []string{"rep-off", "rep-gone", "rep-on"}); err != nil || len(roles) != 1 || roles["rep-on"] != "rep" {
		t.Errorf("UserRoles = %v, %v; want only rep-on", roles, err)
	}
}
