package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dowserhq/dowser"
)

// The placeholders of a CRM link template, replaced by the escaped id.
const (
	crmAccountID  = "{{.AccountID}}"
	crmCustomerID = "{{.CustomerID}}"
)

// CRMLinks are the templates of links to the records an alert is about in
// the organisation's CRM: AccountURL with {{.AccountID}}, ContactURL with
// {{.CustomerID}} (and optionally {{.AccountID}}). Each id is
// percent-encoded as JavaScript's encodeURIComponent does, so that the
// panel renders live alerts' links exactly as the API does. Empty
// templates give no links.
type CRMLinks struct {
	AccountURL string `json:"account_url"`
	ContactURL string `json:"contact_url"`
}

// Validate checks that each template set is an absolute http(s) URL with
// its placeholder and no other template syntax; the error names the flag.
func (c CRMLinks) Validate() error {
	return errors.Join(
		checkCRMTemplate("--crm-account-url", c.AccountURL, crmAccountID),
		checkCRMTemplate("--crm-contact-url", c.ContactURL, crmCustomerID, crmAccountID))
}

func checkCRMTemplate(flag, tmpl string, required string, optional ...string) error {
	if tmpl == "" {
		return nil
	}
	if !strings.Contains(tmpl, required) {
		return fmt.Errorf("%s %q: has no %s to replace with the id", flag, tmpl, required)
	}
	plain := strings.ReplaceAll(tmpl, required, "x")
	for _, o := range optional {
		plain = strings.ReplaceAll(plain, o, "x")
	}
	if i := strings.Index(plain, "{{"); i >= 0 {
		allowed := strings.Join(append([]string{required}, optional...), " and ")
		return fmt.Errorf("%s %q: only %s may be filled in, not %q", flag, tmpl, allowed, plain[i:min(len(plain), i+20)])
	}
	u, err := url.Parse(plain)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s %q: not an absolute http(s) URL", flag, tmpl)
	}
	return nil
}

// links fills in the templates for an alert's account and person; nil when
// neither applies.
func (c CRMLinks) links(accountID, customerID string) *dowser.AlertLinks {
	var l dowser.AlertLinks
	if c.AccountURL != "" && accountID != "" {
		l.CRMAccount = strings.ReplaceAll(c.AccountURL, crmAccountID, encodeURIComponent(accountID))
	}
	if c.ContactURL != "" && customerID != "" {
		l.CRMContact = strings.ReplaceAll(c.ContactURL, crmCustomerID, encodeURIComponent(customerID))
		l.CRMContact = strings.ReplaceAll(l.CRMContact, crmAccountID, encodeURIComponent(accountID))
	}
	if l == (dowser.AlertLinks{}) {
		return nil
	}
	return &l
}

// encodeURIComponent escapes s as JavaScript's function of that name:
// every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ) is percent-encoded.
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// crmLinks answers the CRM link templates, for clients that render the
// links of alerts arriving on the stream.
func (s *Server) crmLinks(w http.ResponseWriter, _ *http.Request, _ dowser.User) {
	writeJSON(w, http.StatusOK, s.cfg.CRM)
}
