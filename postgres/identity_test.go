package postgres_test

import (
	"context"
	"testing"

	"github.com/dowserhq/dowser"
)

// An import withdrawing consent deletes the identity it stored: the
// table's trigger holds for the importer as for PUT.
func TestImportedIdentityGoesWithItsConsent(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	all := dowser.IdentityFields{Name: true, Title: true, Email: true}
	cols := []string{"id", "account_id", "name", "title", "email", "identity_consent", "identity_consent_source"}
	if _, err := s.Directory.Import(ctx, dowser.KindContacts, cols, [][]string{
		{"c-1", "acme", "Ann Lee", "CTO", "ann@acme.example", "true", "crm:web-form"},
		{"c-2", "acme", "Gus", "", "gus@acme.example", "false", ""},
	}); err != nil {
		t.Fatal(err)
	}
	people, err := s.Directory.People(ctx, all, []string{"c-1", "c-2", "c-3"})
	if err != nil || len(people) != 1 || people["c-1"] != (dowser.Person{ID: "c-1", Name: "Ann Lee", Title: "CTO", Email: "ann@acme.example"}) {
		t.Fatalf("People = %+v, %v; want Ann only", people, err)
	}
	if c, _ := s.Directory.GetContact(ctx, "c-2"); c.Name != "" || c.Email != "" {
		t.Errorf("unconsented import stored %+v", c)
	}
	// Updating the owner only keeps the identity.
	if _, err := s.Directory.Import(ctx, dowser.KindContacts, []string{"id", "account_id"}, [][]string{{"c-1", "globex"}}); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Directory.GetContact(ctx, "c-1"); c.Name != "Ann Lee" || c.IdentityConsentAt == nil {
		t.Errorf("an import without identity columns changed it: %+v", c)
	}
	if _, err := s.Directory.Import(ctx, dowser.KindContacts, []string{"id", "identity_consent"}, [][]string{{"c-1", ""}}); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Directory.GetContact(ctx, "c-1")
	if c.Name != "" || c.Title != "" || c.Email != "" || c.IdentityConsentSource != "" || c.IdentityConsentAt != nil || *c.IdentityConsent {
		t.Errorf("withdrawn by import, still stored: %+v", c)
	}
	if people, _ := s.Directory.People(ctx, all, []string{"c-1"}); len(people) != 0 {
		t.Errorf("withdrawn, still shown: %+v", people)
	}
}
