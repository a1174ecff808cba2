package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

func TestImportIsAllOrNothingAndKeepsColumnsNotNamed(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	n, err := s.Directory.Import(ctx, "users", []string{"id", "name", "role", "token"}, [][]string{
		{"rep-ana", "Ana", "rep", "token-of-ana-0123456789"},
		{"mgr-max", "Max", "manager", ""},
	})
	if err != nil || n != 2 {
		t.Fatalf("importing users: %d, %v", n, err)
	}
	if u, err := s.People.UserByToken(ctx, "token-of-ana-0123456789"); err != nil || u.ID != "rep-ana" {
		t.Errorf("ana's imported token: %+v, %v", u, err)
	}
	// Re-importing without a token keeps it.
	if _, err := s.Directory.Import(ctx, "users", []string{"id", "name", "role", "token"}, [][]string{{"rep-ana", "Ana B.", "rep", ""}}); err != nil {
		t.Fatal(err)
	}
	if u, err := s.People.UserByToken(ctx, "token-of-ana-0123456789"); err != nil || u.Name != "Ana B." {
		t.Errorf("after re-import without token: %+v, %v", u, err)
	}

	if _, err := s.Directory.Import(ctx, "accounts", []string{"id", "name", "owner", "lifecycle", "region", "industry", "size"}, [][]string{
		{"acme", "Acme", "rep-ana", "customer", "emea", "banking", "smb"},
		{"globex", "Globex", "", "prospect", "us", "", ""},
	}); err != nil {
		t.Fatal(err)
	}
	// Only the columns named change.
	if _, err := s.Directory.Import(ctx, "accounts", []string{"region", "id"}, [][]string{{"apac", "acme"}}); err != nil {
		t.Fatal(err)
	}
	want := dowser.Account{ID: "acme", Name: "Acme", OwnerID: "rep-ana", Lifecycle: "customer", Region: "apac", Industry: "banking", Size: "smb"}
	if got, err := s.Directory.GetAccount(ctx, "acme"); err != nil || got != want {
		t.Errorf("acme = %+v, %v; want %+v", got, err, want)
	}
	if got, _ := s.Directory.GetAccount(ctx, "globex"); got.OwnerID != "" || got.Region != "us" {
		t.Errorf("globex = %+v", got)
	}

	// The third row breaks a constraint: nothing of the batch stays.
	_, err = s.Directory.Import(ctx, "contacts", []string{"id", "owner", "account_id"}, [][]string{
		{"c-1", "rep-ana", "acme"},
		{"c-2", "", "globex"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Directory.Import(ctx, "users", []string{"id", "name", "role"}, [][]string{
		{"rep-new", "New", "rep"},
		{"rep-ana", "Ana", "rep"},
		{"boss", "Boss", "boss"},
	})
	var ie *postgres.ImportError
	if !errors.As(err, &ie) || ie.Row != 2 || !strings.Contains(err.Error(), "users_role_check") {
		t.Fatalf("importing a bad role: %v, want an ImportError at row 2 naming the check", err)
	}
	if _, err := s.People.GetUser(ctx, "rep-new"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("rep-new of the failed import exists: %v", err)
	}
	if u, _ := s.People.GetUser(ctx, "rep-ana"); u.Name != "Ana B." {
		t.Errorf("rep-ana changed by the failed import: %+v", u)
	}

	if _, err := s.Directory.Import(ctx, "content", []string{"title"}, [][]string{{"x"}}); err == nil || !strings.Contains(err.Error(), `"id" is required`) {
		t.Errorf("import without id: %v", err)
	}
	if _, err := s.Directory.Import(ctx, "planets", []string{"id"}, nil); err == nil {
		t.Error("importing an unknown kind succeeded")
	}
	roles, err := s.Directory.UserRoles(ctx, []string{"rep-ana", "rep-new", "mgr-max"})
	if err != nil || len(roles) != 2 || roles["rep-ana"] != "rep" || roles["mgr-max"] != "manager" {
		t.Errorf("UserRoles = %v, %v", roles, err)
	}
	if c, err := s.Directory.GetContact(ctx, "c-2"); err != nil || c.OwnerID != "" || c.AccountID != "globex" {
		t.Errorf("c-2 = %+v, %v", c, err)
	}
}
