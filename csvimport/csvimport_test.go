package csvimport_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/csvimport"
	"github.com/dowserhq/dowser/postgres"
)

// checkRead reads csv as a file "F" of kind, with the columns the store
// takes, and reports unless its problems are exactly want (each a part of
// one); it returns the problems, one a line.
func checkRead(t *testing.T, kind, csv string, want []string) string {
	t.Helper()
	columns, required, ok := postgres.ImportColumns(kind)
	if !ok {
		t.Fatalf("unknown kind %q", kind)
	}
	_, problems := csvimport.Read("F", csvimport.Table{Kind: kind, Columns: columns, Required: required}, strings.NewReader(csv))
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s %q: problems\n%s\nlack %s", kind, csv, all, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s %q: %d problems, want %d:\n%s", kind, csv, len(got), len(want), all)
	}
	return all
}

func TestReadReportsEveryProblemWithItsLine(t *testing.T) {
	for _, tc := range []struct {
		kind, csv string
		want      []string
	}{
		{"users", "id,name,role\nrep-a,A,rep\nrep-b,,boss\nrep-a,A2,rep\n", []string{
			`F:3: name: is required`, `F:3: role: "boss" is not one of rep, marketer, manager, admin, source`, `F:4: id: "rep-a" is also on line 2`}},
		{"users", "id,name\n", []string{`F:1: role: required column missing`}},
		{"accounts", "id,colour,id\n", []string{`F:1: colour: unknown column; accounts takes id, name, owner, lifecycle, region, industry, size`, `F:1: id: named twice`}},
		// A bad header does not stop the rows' check: one run names all.
		{"accounts", "id,colour,lifecycle\nbad id,red,customer\nacme,blue,maybe\n", []string{
			`F:1: colour: unknown column`, `F:2: id: "bad id" is not a valid id`, `F:3: lifecycle: "maybe" is not prospect or customer`}},
		{"accounts", "id,lifecycle\nacme,maybe\nbad id,customer\nglobex\n", []string{
			`F:2: lifecycle: "maybe" is not prospect or customer`, `F:3: id: "bad id" is not a valid id`, `F:4: 1 fields, but the header names 2 columns`}},
		{"content", "id,title\n\"pricing,Pricing\n", []string{`F:2: csv: extraneous or missing " in quoted-field`}},
		{"contacts", "", []string{`F:1: empty file`}},
		{"users", "id,name,role,token\na,A,rep,0123456789abcdef0123\nb,B,rep,0123456789abcdef0123\n", []string{`F:3: token: same as line 2's`}},
	} {
		all := checkRead(t, tc.kind, tc.csv, tc.want)
		if strings.Contains(all, "0123456789abcdef") {
			t.Errorf("a problem prints a token: %s", all)
		}
	}
}

// The importer applies the REST API's field rules (dowser.CheckField):
// what one refuses, the other does too.
func TestReadAppliesTheAPIsFieldRules(t *testing.T) {
	for _, tc := range []struct {
		kind, csv string
		want      []string
	}{
		{"content", "id,title,url_prefix\nx,\"A\x00B\",https://\ny,Y,https://example.com\n", []string{
			`F:2: title: contains a NUL character`, `F:2: url_prefix: "https://" names no host`, `F:3: url_prefix: "https://example.com" must end its host with a /`}},
		{"accounts", "id,name,region\na,\"\xff\",\n", []string{`F:2: name: is not valid UTF-8`}},
		{"content", "id,talking_point\nx," + strings.Repeat("t", 1025) + "\n", []string{`F:2: talking_point: is 1025 bytes, at most 1024 allowed`}},
		{"users", "id,name,role,token\nu," + strings.Repeat("n", 257) + ",rep,\n", []string{`F:2: name: is 257 bytes, at most 256 allowed`}},
	} {
		checkRead(t, tc.kind, tc.csv, tc.want)
	}
}

// roles is a user directory in memory.
type roles map[string]dowser.Role

func (r roles) UserRoles(_ context.Context, ids []string) (map[string]dowser.Role, error) {
	out := map[string]dowser.Role{}
	for _, id := range ids {
		if role, ok := r[id]; ok {
			out[id] = role
		}
	}
	return out, nil
}

func TestCheckOwnersNamesTheLineOfEachBadOwner(t *testing.T) {
	columns, required, _ := postgres.ImportColumns("content")
	b, problems := csvimport.Read("F", csvimport.Table{Kind: "content", Columns: columns, Required: required},
		strings.NewReader("id,owner\npricing,mkt-jane\nsteal,rep-ana\nghost,nobody\nfree,\n"))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	problems, err := b.CheckOwners(context.Background(), roles{"mkt-jane": dowser.RoleMarketer, "rep-ana": dowser.RoleRep})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		`F:3: owner: "rep-ana" is a rep; the owner of content must be a marketer or admin`,
		`F:4: owner: no user "nobody"; import users first`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadHoldsContactIdentityToConsent(t *testing.T) {
	ok := "id,name,title,email,identity_consent,identity_consent_source\n" +
		"c-1,Ann Lee,CTO,ann@acme.example,TRUE,crm:web-form\n" +
		"c-2,,,,false,\n" +
		"c-3,Gus,,,,\n"
	checkRead(t, dowser.KindContacts, ok, nil)
	checkRead(t, dowser.KindContacts, "id,name,email\nc-1,Ann,ann@acme.example\n", []string{
		"F:1: name: needs an identity_consent column", "F:1: email: needs an identity_consent column",
	})
	checkRead(t, dowser.KindContacts, "id,name,identity_consent\nc-1,Ann,true\n", []string{"F:1: identity_consent_source: required column missing"})
	checkRead(t, dowser.KindContacts, "id,email,identity_consent,identity_consent_source\n"+
		"c-1,ann@,true,form\n"+
		"c-2,b@acme.example,yes,form\n"+
		"c-3,c@acme.example,true,\n", []string{
		"F:2: email: \"ann@\" is not an e-mail address",
		"F:3: identity_consent: \"yes\" is not true or false",
		"F:4: identity_consent_source: is required with identity_consent true",
	})
}
