package dowser_test

import (
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
)

func TestContactIdentityValidation(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		c    dowser.Contact
		want string // "" for valid
	}{
		{dowser.Contact{ID: "c-1"}, ""},
		{dowser.Contact{ID: "c-1", Name: "Ann", Title: "CTO", Email: "ann@acme.example", IdentityConsent: &yes, IdentityConsentSource: "crm:web-form"}, ""},
		{dowser.Contact{ID: "c-1", Name: "Ann", IdentityConsent: &no}, ""}, // accepted, not stored
		{dowser.Contact{ID: "c-1", Name: "Ann"}, "name: needs identity_consent"},
		{dowser.Contact{ID: "c-1", Email: "ann@acme.example"}, "email: needs identity_consent"},
		{dowser.Contact{ID: "c-1", Name: "Ann", IdentityConsent: &yes}, "identity_consent_source: is required"},
		{dowser.Contact{ID: "c-1", Name: "Ann", IdentityConsent: &yes, IdentityConsentSource: "  "}, "identity_consent_source: is required"},
		{dowser.Contact{ID: "c-1", Name: strings.Repeat("x", 300), IdentityConsent: &yes, IdentityConsentSource: "s"}, "name: is 300 bytes"},
		{dowser.Contact{ID: "c-1", Name: "A\x00n", IdentityConsent: &yes, IdentityConsentSource: "s"}, "name: contains a NUL"},
	} {
		err := tc.c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for v, ok := range map[string]bool{
		"":                                 true,
		"ann@acme.example":                 true,
		"ann.lee+x@a.b.co":                 true,
		"ann":                              false,
		"ann@localhost":                    false,
		"Ann <ann@acme.com>":               false,
		"ann@acme.com, b@c.de":             false,
		"ann @acme.com":                    false,
		"ann@acme.com\n":                   false,
		"ann@.":                            false,
		strings.Repeat("a", 250) + "@b.co": false,
	} {
		if fe := dowser.CheckEmail("email", v); (fe == nil) != ok {
			t.Errorf("CheckEmail(%q) = %v, want ok %v", v, fe, ok)
		}
	}
	if fe := dowser.CheckField(dowser.KindContacts, "identity_consent", "yes"); fe == nil || !strings.Contains(fe.Error(), "not true or false") {
		t.Errorf("identity_consent yes = %v", fe)
	}
}

func TestIdentityFields(t *testing.T) {
	for in, want := range map[string]string{"": "none", "none": "none", "name": "name", " email , name": "name,email", "name,title,email": "name,title,email"} {
		f, err := dowser.ParseIdentityFields(in)
		if err != nil || f.String() != want {
			t.Errorf("ParseIdentityFields(%q) = %v, %v; want %s", in, f, err, want)
		}
	}
	for _, in := range []string{"all", "name,phone", "none,name", "name,"} {
		if _, err := dowser.ParseIdentityFields(in); err == nil {
			t.Errorf("ParseIdentityFields(%q) accepted", in)
		}
	}
	p := dowser.Person{ID: "c-1", Name: "Ann", Title: "CTO", Email: "ann@acme.example"}
	if got, ok := (dowser.IdentityFields{Title: true}).Show(p); !ok || got != (dowser.Person{ID: "c-1", Title: "CTO"}) {
		t.Errorf("title only: %+v %v", got, ok)
	}
	if _, ok := (dowser.IdentityFields{Title: true}).Show(dowser.Person{ID: "c-1", Name: "Ann"}); ok {
		t.Error("a person without the fields shown is shown")
	}
	if _, ok := (dowser.IdentityFields{}).Show(p); ok {
		t.Error("none shows a person")
	}
}
