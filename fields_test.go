package dowser

import (
	"strings"
	"testing"
)

func TestCheckField(t *testing.T) {
	for _, c := range []struct {
		kind, field, v string
		want           string // "" for valid, else part of the reason
	}{
		{KindAccounts, "id", "acme-1.x@y:z_", ""},
		{KindAccounts, "id", "", "is required"},
		{KindAccounts, "id", "-acme", "not a valid id"},
		{KindAccounts, "id", strings.Repeat("a", 129), "not a valid id"},
		{KindAccounts, "owner", "", ""},
		{KindAccounts, "owner", "a b", "not a valid id"},
		{KindTerritoryRules, "rep", "", "is required"},
		{KindUsers, "name", "", "is required"},
		{KindAccounts, "name", "", ""},
		{KindAccounts, "name", "a\x00b", "contains a NUL"},
		{KindAccounts, "name", "a\xffb", "not valid UTF-8"},
		{KindAccounts, "name", strings.Repeat("é", 129), "is 258 bytes, at most 256"},
		{KindContent, "title", strings.Repeat("t", 512), ""},
		{KindContent, "url_prefix", "", ""},
		{KindContent, "url_prefix", "https://example.com/", ""},
		{KindContent, "url_prefix", "http://example.com:8080/docs/", ""},
		{KindContent, "url_prefix", "https://", "names no host"},
		{KindContent, "url_prefix", "https://:443/", "names no host"},
		{KindContent, "url_prefix", "https://example.com", "must end its host with a /"},
		{KindContent, "url_prefix", "ftp://example.com/", "http:// or https://"},
		{KindContent, "url_prefix", "/pricing", "http:// or https://"},
		{KindContent, "url_prefix", "https://a:b@example.com/", "user name"},
		{KindContent, "url_prefix", "https://example.com/\x00", "NUL"},
		{KindUsers, "role", "boss", "not one of"},
		{KindUsers, "token", "short", "at least 20"},
		{KindUsers, "token", strings.Repeat("k", 513), "at most 512"},
		{KindUsers, "token", strings.Repeat("ab", 20), "only 2 different characters"},
		{KindAccounts, "lifecycle", "", "not prospect or customer"},
		{KindDoNotTrack, "kind", "planet", "not customer or account"},
		{KindAccounts, "region", strings.Repeat("r", 129), "at most 128"},
		{KindAccounts, "colour", "red", ""}, // unknown fields are the caller's
	} {
		fe := CheckField(c.kind, c.field, c.v)
		switch {
		case c.want == "" && fe != nil:
			t.Errorf("CheckField(%s, %s, %.40q) = %v, want valid", c.kind, c.field, c.v, fe)
		case c.want != "" && (fe == nil || fe.Field != c.field || !strings.Contains(fe.Reason, c.want)):
			t.Errorf("CheckField(%s, %s, %.40q) = %v, want %s: …%s…", c.kind, c.field, c.v, fe, c.field, c.want)
		}
	}
	if fe := CheckField(KindUsers, "token", "short-secret"); fe == nil || strings.Contains(fe.Error(), "short-secret") {
		t.Errorf("a token's problem %v must not print it", fe)
	}
}

func TestCheckOwner(t *testing.T) {
	for _, c := range []struct {
		kind string
		role Role
		ok   bool
	}{
		{KindContent, RoleMarketer, true}, {KindContent, RoleAdmin, true}, {KindContent, RoleRep, false}, {KindContent, "", false},
		{KindSignals, RoleMarketer, true}, {KindSignals, RoleManager, false},
		{KindAccounts, RoleRep, true}, {KindAccounts, RoleManager, true}, {KindAccounts, RoleMarketer, false}, {KindAccounts, RoleSource, false},
		{KindContacts, RoleRep, true}, {KindTerritoryRules, RoleAdmin, false},
	} {
		fe := CheckOwner(c.kind, "owner", "u", c.role)
		if (fe == nil) != c.ok || OwnerFits(c.kind, c.role) != c.ok {
			t.Errorf("%s owned by a %q: CheckOwner = %v, OwnerFits = %v; want ok %v", c.kind, c.role, fe, OwnerFits(c.kind, c.role), c.ok)
		}
	}
	if fe := CheckOwner(KindContent, "owner", "", ""); fe != nil {
		t.Errorf("no owner = %v, want valid", fe)
	}
	if fe := CheckInt32("priority", 1<<31); fe == nil || !strings.Contains(fe.Error(), "priority: 2147483648 is out of range") {
		t.Errorf("CheckInt32(2^31) = %v", fe)
	}
	if fe := CheckInt32("priority", -1<<31); fe != nil {
		t.Errorf("CheckInt32(-2^31) = %v", fe)
	}
}
