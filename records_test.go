package dowser

import (
	"errors"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/schema"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		rec  interface{ Validate() error }
		want []string // the refused fields, in order
	}{
		{"user", User{ID: "u-1", Name: "Ann", Role: RoleRep}, nil},
		{"user without name or role", User{ID: "u-1"}, []string{"name", "role"}},
		{"account", Account{ID: "acme", Lifecycle: LifecycleCustomer}, nil},
		{"account without lifecycle", Account{ID: "acme"}, []string{"lifecycle"}},
		{"account", Account{ID: "-", OwnerID: "a b", Lifecycle: "x", Region: strings.Repeat("r", 129)}, []string{"id", "owner", "lifecycle", "region"}},
		{"content", Content{ID: "c", URLPrefix: "https://example.com"}, []string{"url_prefix"}},
		{"contact", Contact{ID: "p", AccountID: "a b"}, []string{"account_id"}},
		{"rule", TerritoryRule{ID: "r", Priority: 1 << 31, Size: "\x00"}, []string{"priority", "rep", "size"}},
		{"rule", TerritoryRule{ID: "r", RepID: "rep-1"}, nil},
	} {
		err := c.rec.Validate()
		var p Problems
		if err != nil && !errors.As(err, &p) {
			t.Fatalf("%s: %v is not Problems", c.name, err)
		}
		var got []string
		for _, fe := range p {
			got = append(got, fe.Field)
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: refused %q (%v), want %q", c.name, got, err, c.want)
		}
	}
	if err := Role("boss").Validate(); err == nil {
		t.Error("Role(boss).Validate() = nil")
	}
}

func TestMatches(t *testing.T) {
	a := Account{Region: "EMEA", Industry: "Retail"}
	for _, c := range []struct {
		r    TerritoryRule
		want bool
	}{
		{TerritoryRule{}, true},
		{TerritoryRule{Region: "emea"}, true},
		{TerritoryRule{Region: "emea", Size: "large"}, false},
		{TerritoryRule{Industry: "Banking"}, false},
	} {
		if got := c.r.Matches(a); got != c.want {
			t.Errorf("%+v.Matches(%+v) = %v, want %v", c.r, a, got, c.want)
		}
	}
}

func TestLifecycle(t *testing.T) {
	if got := DefaultLifecycle(""); got != LifecycleProspect {
		t.Errorf("DefaultLifecycle(\"\") = %q", got)
	}
	if got := DefaultLifecycle(LifecycleCustomer); got != LifecycleCustomer {
		t.Errorf("DefaultLifecycle(customer) = %q", got)
	}
	lookup := func(id string) (string, error) {
		if id == "broken" {
			return "", errors.New("down")
		}
		return map[string]string{"acme": LifecycleCustomer}[id], nil
	}
	for _, c := range []struct {
		in   schema.Customer
		want string
		err  bool
	}{
		{schema.Customer{AccountID: "acme"}, LifecycleCustomer, false},
		{schema.Customer{AccountID: "acme", Lifecycle: LifecycleProspect}, LifecycleProspect, false},
		{schema.Customer{AccountID: "unknown"}, "", false},
		{schema.Customer{}, "", false},
		{schema.Customer{AccountID: "broken"}, "", true},
	} {
		c2 := c.in
		err := FillLifecycle(&c2, lookup)
		if c2.Lifecycle != c.want || (err != nil) != c.err {
			t.Errorf("FillLifecycle(%+v) = %q, %v; want %q, error %v", c.in, c2.Lifecycle, err, c.want, c.err)
		}
	}
}
