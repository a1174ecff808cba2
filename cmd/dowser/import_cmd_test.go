package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runImportCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"import"}, args...), &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

func TestImportGoodFilesThenABadRowImportsNothing(t *testing.T) {
	db := pgtest.URL(t)
	const anaToken, maxToken = "secret-token-of-ana-0123", "secret-token-of-max-0123"
	users := writeFile(t, "users.csv", "\ufeffid,name,role,token\n"+
		"rep-ana,Ana,rep,"+anaToken+"\n"+
		"\"rep-ben\",\"Ben, Jr.\",rep,\n"+
		"mgr-max,Max,manager,"+maxToken+"\n")
	code, out, errOut := runImportCmd(t, "users", users, "--database-url", db)
	if code != 0 || !strings.Contains(out, "imported 3 users") {
		t.Fatalf("importing users: exit %d, %s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, anaToken) {
		t.Error("the import printed a token")
	}
	accounts := writeFile(t, "accounts.csv", "id,owner,region,industry,size,name\n"+
		"acme,rep-ana,emea,banking,enterprise,Acme\n"+
		"globex,,us,retail,smb,Globex\n")
	if code, out, errOut := runImportCmd(t, "accounts", "--database-url", db, accounts); code != 0 || !strings.Contains(out, "imported 2 accounts") {
		t.Fatalf("importing accounts: exit %d, %s%s", code, out, errOut)
	}

	ctx := context.Background()
	store, err := postgres.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if u, err := store.People.UserByToken(ctx, maxToken); err != nil || u.ID != "mgr-max" || u.Role != dowser.RoleManager {
		t.Errorf("mgr-max by token = %+v, %v", u, err)
	}
	if u, err := store.People.GetUser(ctx, "rep-ben"); err != nil || u.Name != "Ben, Jr." {
		t.Errorf("rep-ben = %+v, %v", u, err)
	}
	want := dowser.Account{ID: "acme", Name: "Acme", OwnerID: "rep-ana", Lifecycle: "prospect", Region: "emea", Industry: "banking", Size: "enterprise"}
	if a, err := store.Directory.GetAccount(ctx, "acme"); err != nil || a != want {
		t.Errorf("acme = %+v, %v; want %+v", a, err, want)
	}

	// One bad row among good ones: the line is reported, nothing is
	// imported, the exit status is 1.
	contacts := writeFile(t, "contacts.csv", "id,owner,account_id\n"+
		"c-1,rep-ben,acme\n"+
		"c-2,rep-nobody,globex\n"+
		"c-3,,globex\n")
	code, _, errOut = runImportCmd(t, "contacts", contacts, "--database-url", db)
	if code != 1 || !strings.Contains(errOut, contacts+`:3: owner: no user "rep-nobody"`) || !strings.Contains(errOut, "nothing imported") {
		t.Errorf("importing a bad contact: exit %d, %s", code, errOut)
	}
	if _, err := store.Directory.GetContact(ctx, "c-1"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("c-1 of the refused file was imported: %v", err)
	}
	badUsers := writeFile(t, "users.csv", "id,name,role,token\n"+
		"rep-cho,Cho,rep,short-secret\n"+
		"rep-dan,Dan,rep,\n")
	code, _, errOut = runImportCmd(t, "users", badUsers, "--database-url", db)
	if code != 1 || !strings.Contains(errOut, badUsers+":2: token: must be at least 20 characters") || strings.Contains(errOut, "short-secret") {
		t.Errorf("importing a short token: exit %d, %s (the token must not be printed)", code, errOut)
	}
	if _, err := store.People.GetUser(ctx, "rep-dan"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("rep-dan of the refused file was imported: %v", err)
	}
}

func TestImportRefusesABadCommandLine(t *testing.T) {
	if code, _, errOut := runImportCmd(t, "planets", "x.csv"); code != 2 || !strings.Contains(errOut, `unknown kind "planets"`) {
		t.Errorf("unknown kind: exit %d, %s", code, errOut)
	}
	if code, _, _ := runImportCmd(t, "users"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}

// The importer refuses owners that the REST API would (dowser.CheckOwner);
// csvimport tests the field rules.
func TestImportAppliesTheAPIsOwnerRules(t *testing.T) {
	db := pgtest.URL(t)
	users := writeFile(t, "users.csv", "id,name,role\nrep-ana,Ana,rep\nmkt-jane,Jane,marketer\n")
	if code, out, errOut := runImportCmd(t, "users", users, "--database-url", db); code != 0 {
		t.Fatalf("importing users: exit %d, %s%s", code, out, errOut)
	}
	content := writeFile(t, "content.csv", "id,url_prefix,owner\n"+
		"pricing,https://example.com/pricing,mkt-jane\n"+
		"steal,https://example.com/,rep-ana\n")
	code, _, errOut := runImportCmd(t, "content", content, "--database-url", db)
	if code != 1 || !strings.Contains(errOut, content+`:3: owner: "rep-ana" is a rep; the owner of content must be a marketer or admin`) {
		t.Errorf("importing content owned by a rep: exit %d, %s", code, errOut)
	}
	// One run names every problem, values and owners alike, in line
	// order; an owner that is not even an id is reported once.
	mixed := writeFile(t, "mixed.csv", "id,url_prefix,owner\n"+
		"steal,https://example.com/,rep-ana\n"+
		"bad,https://,mkt-jane\n"+
		"odd,https://example.com/odd,bad owner\n")
	code, _, errOut = runImportCmd(t, "content", mixed, "--database-url", db)
	want := mixed + `:2: owner: "rep-ana" is a rep; the owner of content must be a marketer or admin
` + mixed + `:3: url_prefix: "https://" names no host; give at least scheme://host/
` + mixed + `:4: owner: "bad owner" is not a valid id (letters, digits, _ . @ : -, at most 128)
`
	if code != 1 || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "3 problems in "+mixed+"; nothing imported") {
		t.Errorf("importing a file with value and owner problems: exit %d, stderr:\n%s\nwant it to start with:\n%s", code, errOut, want)
	}
	accounts := writeFile(t, "accounts.csv", "id,owner\nacme,mkt-jane\n")
	code, _, errOut = runImportCmd(t, "accounts", accounts, "--database-url", db)
	if code != 1 || !strings.Contains(errOut, accounts+`:2: owner: "mkt-jane" is a marketer; the owner of an account must be a rep or manager`) {
		t.Errorf("importing an account owned by a marketer: exit %d, %s", code, errOut)
	}
}
