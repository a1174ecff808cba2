package dowser

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Contact is a person (a customer id of the events) with a rep of their
// own, who receives their alerts before their account's owner does, and
// optionally the account they belong to.
//
// Name, Title and Email say who the person is. Storage keeps them only
// while IdentityConsent is true, and reps see them only as the identity
// setting allows ([IdentityFields], docs/privacy.md "Whom to call").
type Contact struct {
	ID        string `json:"id"`
	OwnerID   string `json:"owner"`
	AccountID string `json:"account_id"`
	Name      string `json:"name,omitempty"`
	Title     string `json:"title,omitempty"`
	Email     string `json:"email,omitempty"`
	// IdentityConsent records whether the person agreed that reps see
	// their name, title and e-mail. On a save, nil keeps the stored
	// identity and consent as they are; false withdraws the consent and
	// deletes the stored name, title and e-mail.
	IdentityConsent *bool `json:"identity_consent,omitempty"`
	// IdentityConsentSource says where the consent was given (a form,
	// a CRM field): required with IdentityConsent true.
	IdentityConsentSource string `json:"identity_consent_source,omitempty"`
	// IdentityConsentAt is when Dowser recorded the consent; set by
	// storage, ignored on a save.
	IdentityConsentAt *time.Time `json:"identity_consent_at,omitempty"`
}

// Validate checks every field of the contact; a [Problems] names every
// field refused. That the owner is a user who may own it is the caller's
// to check ([CheckOwner]).
func (c Contact) Validate() error {
	p := checkFields(KindContacts, "id", c.ID, "owner", c.OwnerID, "account_id", c.AccountID,
		"name", c.Name, "title", c.Title, "email", c.Email, "identity_consent_source", c.IdentityConsentSource)
	if c.IdentityConsent == nil {
		for _, f := range [][2]string{{"name", c.Name}, {"title", c.Title}, {"email", c.Email}, {"identity_consent_source", c.IdentityConsentSource}} {
			if f[1] != "" {
				p.Add(fieldErrorf(f[0], "needs identity_consent (true or false): a person's identity is kept only with their recorded consent"))
			}
		}
	} else {
		p.Add(CheckConsent(*c.IdentityConsent, c.IdentityConsentSource))
	}
	return p.Err()
}

// MaxEmailLen bounds an e-mail address, as RFC 5321's path does.
const MaxEmailLen = 254

// CheckEmail checks an e-mail address: empty, or a bare address such as
// ann@example.com (no display name, a domain with a dot).
func CheckEmail(field, v string) *FieldError {
	if v == "" {
		return nil
	}
	if fe := CheckText(field, v, MaxEmailLen); fe != nil {
		return fe
	}
	a, err := mail.ParseAddress(v)
	at := strings.LastIndexByte(v, '@')
	if err != nil || a.Name != "" || a.Address != v || at < 0 || !strings.Contains(strings.Trim(v[at+1:], "."), ".") {
		return fieldErrorf(field, "%s is not an e-mail address such as ann@example.com", quoteShort(v))
	}
	return nil
}

// CheckConsent checks a contact's consent against its source: a consent
// must say where it was given.
func CheckConsent(consent bool, source string) *FieldError {
	if consent && strings.TrimSpace(source) == "" {
		return fieldErrorf("identity_consent_source", "is required with identity_consent true: say where the person consented, e.g. crm:web-form")
	}
	return nil
}

// IdentityColumns are a contact's fields that say who the person is and
// whether they consented; an import naming any of them must name
// identity_consent.
func IdentityColumns() []string {
	return []string{"name", "title", "email", "identity_consent", "identity_consent_source"}
}

// Person is whom an alert or a journey item is about as a rep may see
// them: the customer id, and the name, title and e-mail that the
// identity setting, the person's consent and do-not-track allow.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Title string `json:"title,omitempty"`
	Email string `json:"email,omitempty"`
}

// IdentityFields is the identity setting (--contact-identity): which of
// a consenting person's fields reps may see at all. The zero value shows
// none: people are shown by their customer id only.
type IdentityFields struct{ Name, Title, Email bool }

// ParseIdentityFields reads the setting: "none" (or empty), or a
// comma-separated list of name, title and email.
func ParseIdentityFields(s string) (IdentityFields, error) {
	var f IdentityFields
	if s = strings.TrimSpace(s); s == "" || s == "none" {
		return f, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(part) {
		case "name":
			f.Name = true
		case "title":
			f.Title = true
		case "email":
			f.Email = true
		default:
			return IdentityFields{}, fmt.Errorf("%q is not none or a list of name, title, email", s)
		}
	}
	return f, nil
}

// String is the setting as ParseIdentityFields reads it.
func (f IdentityFields) String() string {
	var parts []string
	for _, p := range []struct {
		on   bool
		name string
	}{{f.Name, "name"}, {f.Title, "title"}, {f.Email, "email"}} {
		if p.on {
			parts = append(parts, p.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// None reports whether the setting shows no field.
func (f IdentityFields) None() bool { return f == IdentityFields{} }

// Show returns p with only the fields the setting allows; ok is false
// when none of them is left to show.
func (f IdentityFields) Show(p Person) (shown Person, ok bool) {
	shown.ID = p.ID
	if f.Name {
		shown.Name = p.Name
	}
	if f.Title {
		shown.Title = p.Title
	}
	if f.Email {
		shown.Email = p.Email
	}
	return shown, shown.Name != "" || shown.Title != "" || shown.Email != ""
}

// UniqueIDs returns the non-empty ids, each once, in their first order:
// the customer ids to look up for a page of alerts or journey items.
func UniqueIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
