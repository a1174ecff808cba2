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

func TestImportReportsEveryProblemWithItsLine(t *testing.T) {
	for _, tc := range []struct {
		kind, csv string
		want      []string
	}{
		{"users", "id,name,role\nrep-a,A,rep\nrep-b,,boss\nrep-a,A2,rep\n", []string{
			`F:3: name: is required`, `F:3: role: "boss" is not one of rep, marketer, manager, admin, source`, `F:4: id: "rep-a" is also on line 2`}},
		{"users", "id,name\n", []string{`F:1: role: required column missing`}},
		{"accounts", "id,colour,id\n", []string{`F:1: colour: unknown column; accounts takes id, name, owner, lifecycle, region, industry, size`, `F:1: id: named twice`}},
		{"accounts", "id,lifecycle\nacme,maybe\nbad id,customer\nglobex\n", []string{
			`F:2: lifecycle: "maybe" is not prospect or customer`, `F:3: id: "bad id" is not a valid id`, `F:4: 1 fields, but the header names 2 columns`}},
		{"content", "id,title\n\"pricing,Pricing\n", []string{`F:2: csv: extraneous or missing " in quoted-field`}},
		{"contacts", "", []string{`F:1: empty file`}},
		{"users", "id,name,role,token\na,A,rep,0123456789abcdef0123\nb,B,rep,0123456789abcdef0123\n", []string{`F:3: token: same as line 2's`}},
	} {
		_, problems := readImport(tc.kind, "F", strings.NewReader(tc.csv))
		var got []string
		for _, p := range problems {
			got = append(got, p.String())
		}
		all := strings.Join(got, "\n")
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s %q: problems\n%s\nlack %s", tc.kind, tc.csv, all, w)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s %q: %d problems, want %d:\n%s", tc.kind, tc.csv, len(got), len(tc.want), all)
		}
		if strings.Contains(all, "0123456789abcdef") {
			t.Errorf("a problem prints a token: %s", all)
		}
	}
	if code, _, errOut := runImportCmd(t, "planets", "x.csv"); code != 2 || !strings.Contains(errOut, `unknown kind "planets"`) {
		t.Errorf("unknown kind: exit %d, %s", code, errOut)
	}
	if code, _, _ := runImportCmd(t, "users"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}

// The importer applies the REST API's field rules (dowser.CheckField) and
// owner rules (dowser.CheckOwner): what one refuses, the other does too.
func TestImportAppliesTheAPIsFieldAndOwnerRules(t *testing.T) {
	for _, tc := range []struct {
		kind, csv string
		want      []string
	}{
		{"content", "id,title,url_prefix\nx,\"A\x00B\",https://\ny,Y,https://example.com\n", []string{
			`F:2: title: contains a NUL character`, `F:2: url_prefix: "https://" names no host`, `F:3: url_prefix: "https://example.com" must end its host with a /`}},
		{"accounts", "id,name,region\na,\"\xff\",\n", []string{`F:2: name: is not valid UTF-8`}},
		{"users", "id,name,role,token\nu," + strings.Repeat("n", 257) + ",rep,\n", []string{`F:2: name: is 257 bytes, at most 256 allowed`}},
	} {
		_, problems := readImport(tc.kind, "F", strings.NewReader(tc.csv))
		var got []string
		for _, p := range problems {
			got = append(got, p.String())
		}
		all := strings.Join(got, "\n")
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s %q: problems\n%s\nlack %s", tc.kind, tc.csv, all, w)
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s %q: %d problems, want %d:\n%s", tc.kind, tc.csv, len(got), len(tc.want), all)
		}
	}

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
	accounts := writeFile(t, "accounts.csv", "id,owner\nacme,mkt-jane\n")
	code, _, errOut = runImportCmd(t, "accounts", accounts, "--database-url", db)
	if code != 1 || !strings.Contains(errOut, accounts+`:2: owner: "mkt-jane" is a marketer; the owner of an account must be a rep or manager`) {
		t.Errorf("importing an account owned by a marketer: exit %d, %s", code, errOut)
	}
}
