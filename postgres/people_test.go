package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

func TestRevocationEndsSessionsAndIsRecorded(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	ana := dowser.User{ID: "ana", Name: "Ana", Role: dowser.RoleRep}
	if err := s.People.PutUser(ctx, ana, "token-ana-0123456789"); err != nil {
		t.Fatal(err)
	}
	start, err := s.People.LastRevocation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	session := func() string {
		t.Helper()
		secret, err := s.People.CreateSession(ctx, "ana", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	ended := func(what, secret string) {
		t.Helper()
		if _, err := s.People.UserBySession(ctx, secret); !errors.Is(err, dowser.ErrNotFound) {
			t.Errorf("%s: session still valid (%v)", what, err)
		}
	}
	revocations := func(what string, want int) {
		t.Helper()
		rs, err := s.People.RevocationsAfter(ctx, start, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != want {
			t.Fatalf("%s: %d revocations %v, want %d", what, len(rs), rs, want)
		}
		for _, r := range rs {
			if r.UserID != "ana" {
				t.Errorf("%s: revocation of %q", what, r.UserID)
			}
		}
	}

	// Saving the same token again (as --admin-token does at each start)
	// ends nothing.
	kept := session()
	if err := s.People.PutUser(ctx, ana, "token-ana-0123456789"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.People.UserBySession(ctx, kept); err != nil {
		t.Errorf("same token again ended the session: %v", err)
	}
	revocations("same token", 0)

	if err := s.People.PutUser(ctx, ana, "token-ana-rotated-0123456789"); err != nil {
		t.Fatal(err)
	}
	ended("rotation", kept)
	if _, err := s.People.UserByToken(ctx, "token-ana-0123456789"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("old token after rotation: %v", err)
	}
	revocations("rotation", 1)

	logout := session()
	if err := s.People.DeleteSession(ctx, logout); err != nil {
		t.Fatal(err)
	}
	revocations("logout", 2)

	disabled := session()
	ana.Disabled = true
	if err := s.People.PutUser(ctx, ana, ""); err != nil {
		t.Fatal(err)
	}
	ended("disabling", disabled)
	if _, err := s.People.UserByToken(ctx, "token-ana-rotated-0123456789"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("token of a disabled user: %v", err)
	}
	if u, err := s.People.GetUser(ctx, "ana"); err != nil || !u.Disabled {
		t.Errorf("GetUser = %+v, %v; want disabled", u, err)
	}
	revocations("disabling", 3)
	ana.Disabled = false
	if err := s.People.PutUser(ctx, ana, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.People.UserByToken(ctx, "token-ana-rotated-0123456789"); err != nil {
		t.Errorf("token after enabling again: %v", err)
	}
}

func TestDeleteUserKeepsAlertHistory(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, id := range []string{"ana", "max"} {
		if err := s.People.PutUser(ctx, dowser.User{ID: id, Name: id, Role: dowser.RoleRep}, "token-of-"+id+"-0123456789"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	secret, err := s.People.CreateSession(ctx, "ana", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.People.DeleteUser(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.People.UserBySession(ctx, secret); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("session of a deleted user: %v", err)
	}
	if _, err := s.People.UserByToken(ctx, "token-of-ana-0123456789"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("token of a deleted user: %v", err)
	}
	if _, err := s.People.GetUser(ctx, "ana"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("GetUser of a deleted user: %v", err)
	}
	ds, err := s.Alerts.DeliveriesAfter(ctx, "ana", 0, 10)
	if err != nil || len(ds) != 1 || ds[0].AlertID != "al-1" {
		t.Errorf("deliveries after deletion = %v, %v; want al-1 kept", ds, err)
	}
	if err := s.People.PutUser(ctx, dowser.User{ID: "ana", Name: "New Ana", Role: dowser.RoleRep}, ""); !errors.Is(err, dowser.ErrUserDeleted) {
		t.Errorf("reusing a deleted id: %v, want ErrUserDeleted", err)
	}
	if err := s.People.DeleteUser(ctx, "ana"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	if _, err := s.People.UserByToken(ctx, "token-of-max-0123456789"); err != nil {
		t.Errorf("another user's token: %v", err)
	}
}

func TestCheckToken(t *testing.T) {
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{"short", false},
		{"0123456789012345678", false}, // 19
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"abababababababababababab", false},
		{"0123456789abcdef0123", true},
		{postgres.NewToken(), true},
	} {
		err := dowser.CheckToken(tc.token)
		if (err == nil) != tc.ok {
			t.Errorf("CheckToken(%q) = %v, want ok %v", tc.token, err, tc.ok)
		}
	}
}

func TestImportedNewTokenEndsSessions(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	cols := []string{"id", "name", "role", "token"}
	if _, err := s.Directory.Import(ctx, "users", cols, [][]string{{"ana", "Ana", "rep", "token-of-ana-0123456789"}, {"max", "Max", "rep", "token-of-max-0123456789"}}); err != nil {
		t.Fatal(err)
	}
	ana, _ := s.People.CreateSession(ctx, "ana", time.Hour)
	maxSession, _ := s.People.CreateSession(ctx, "max", time.Hour)
	start, _ := s.People.LastRevocation(ctx)
	// Max's token is the same again, ana's is new.
	if _, err := s.Directory.Import(ctx, "users", cols, [][]string{{"ana", "Ana", "rep", "token-of-ana-rotated-0123"}, {"max", "Max", "rep", "token-of-max-0123456789"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.People.UserBySession(ctx, ana); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("ana's session after her token was replaced: %v", err)
	}
	if _, err := s.People.UserBySession(ctx, maxSession); err != nil {
		t.Errorf("max's session after the same token again: %v", err)
	}
	if rs, err := s.People.RevocationsAfter(ctx, start, 10); err != nil || len(rs) != 1 || rs[0].UserID != "ana" {
		t.Errorf("revocations = %v, %v; want ana's", rs, err)
	}
}
