package dowser

import (
	"slices"
	"strings"
)

// Owner is a stored owner's id with the role its user has now; Role is ""
// when the id is no active user (any more). Routing skips an owner whose
// role no longer fits what they own ([OwnerFits]).
type Owner struct {
	ID   string
	Role Role
}

// OwnerRoles returns the roles that may own a record of kind: content and
// signals belong to marketing (a marketer or an admin), accounts, contacts
// and territory rules to sales (a rep or a manager). nil for a kind that
// has no owner.
func OwnerRoles(kind string) []Role {
	switch kind {
	case KindContent, KindSignals:
		return []Role{RoleMarketer, RoleAdmin}
	case KindAccounts, KindContacts, KindTerritoryRules:
		return []Role{RoleRep, RoleManager}
	}
	return nil
}

// CheckOwner checks that the user owner, whose role is role ("" when no
// such user exists), may own a record of kind; field names the owner's
// field (owner, or rep for a territory rule). An empty owner is none and
// passes.
func CheckOwner(kind, field, owner string, role Role) *FieldError {
	if owner == "" {
		return nil
	}
	allowed := OwnerRoles(kind)
	switch {
	case role == "":
		return fieldErrorf(field, "no user %s", quoteShort(owner))
	case !slices.Contains(allowed, role):
		names := make([]string, len(allowed))
		for i, r := range allowed {
			names[i] = string(r)
		}
		return fieldErrorf(field, "%s is %s; the owner of %s must be %s", quoteShort(owner), article(string(role)), kindNoun(kind), article(strings.Join(names, " or ")))
	}
	return nil
}

// OwnerFits reports whether a user of role may own a record of kind: the
// rule CheckOwner applies, for routing to apply it again to stored owners.
func OwnerFits(kind string, role Role) bool {
	return role != "" && slices.Contains(OwnerRoles(kind), role)
}

func article(noun string) string {
	if strings.IndexByte("aeiou", noun[0]) >= 0 {
		return "an " + noun
	}
	return "a " + noun
}

func kindNoun(kind string) string {
	switch kind {
	case KindAccounts:
		return "an account"
	case KindContacts:
		return "a contact"
	case KindTerritoryRules:
		return "a territory rule"
	case KindSignals:
		return "a signal"
	}
	return kind
}
