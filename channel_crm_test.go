package dowser_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

func crmChannel(alert dowser.CRMRequest, verdict *dowser.CRMRequest) dowser.Channel {
	return dowser.Channel{Kind: dowser.ChannelCRM, Target: "https://crm.example.com", Secret: "a-token-of-sixteen-bytes",
		CRM: &dowser.CRMTemplate{Alert: alert, Verdict: verdict}}
}

// TestCRMTemplateValidation checks that each kind of bad template is
// refused on save with the path of what is wrong and why.
func TestCRMTemplateValidation(t *testing.T) {
	good := dowser.CRMRequest{Method: "POST", Path: "/tasks", Headers: map[string]string{"Authorization": "Bearer {{.Secret}}"},
		Body: `{"subject": {{json .Alert.Message}}, "journey": {{json (journey .Alert)}}}`}
	with := func(f func(r *dowser.CRMRequest)) dowser.CRMRequest {
		r := good
		r.Headers = map[string]string{"Authorization": "Bearer {{.Secret}}"}
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name      string
		c         dowser.Channel
		path, say string // "" path: valid
	}{
		{"valid", crmChannel(good, &good), "", ""},
		{"no templates", dowser.Channel{Kind: dowser.ChannelCRM, Target: "https://crm.example.com"}, "crm", "is required"},
		{"templates on a webhook", dowser.Channel{Kind: dowser.ChannelWebhook, Target: "https://h.example.com", Secret: "a-secret-of-sixteen", CRM: &dowser.CRMTemplate{Alert: good}}, "crm", "only crm channels"},
		{"method", crmChannel(with(func(r *dowser.CRMRequest) { r.Method = "DELETE" }), nil), "crm.alert.method", `"DELETE" is not one of POST, PUT, PATCH`},
		{"absolute path", crmChannel(with(func(r *dowser.CRMRequest) { r.Path = "https://evil.example.com/x" }), nil), "crm.alert.path", "must start with one \"/\""},
		{"host-relative path", crmChannel(with(func(r *dowser.CRMRequest) { r.Path = "//evil.example.com/x" }), nil), "crm.alert.path", "must start with one \"/\""},
		{"parse error", crmChannel(with(func(r *dowser.CRMRequest) { r.Body = `{"a": {{json .Alert.Message}` }), nil), "crm.alert.body", "does not parse"},
		{"unknown field", crmChannel(with(func(r *dowser.CRMRequest) { r.Body = `{"a": {{json .Alert.Acount}}}` }), nil), "crm.alert.body", "can't evaluate field Acount"},
		{"verdict in the alert template", crmChannel(with(func(r *dowser.CRMRequest) { r.Body = `{"a": {{json .Verdict.Verdict}}}` }), nil), "crm.alert.body", "nil pointer"},
		{"invalid JSON", crmChannel(with(func(r *dowser.CRMRequest) { r.Body = `{"a": {{.Alert.Message}}}` }), nil), "crm.alert.body", "rendered to invalid JSON"},
		{"secret in the body", crmChannel(with(func(r *dowser.CRMRequest) { r.Body = `{"a": {{json .Secret}}}` }), nil), "", ""},
		{"reserved header", crmChannel(with(func(r *dowser.CRMRequest) { r.Headers["Dowser-Delivery-Id"] = "x" }), nil), "crm.alert.headers.Dowser-Delivery-Id", "set by Dowser"},
		{"bad header name", crmChannel(with(func(r *dowser.CRMRequest) { r.Headers["Bad Name"] = "x" }), nil), "crm.alert.headers.Bad Name", "not a header name"},
		{"verdict template", crmChannel(good, &dowser.CRMRequest{Method: "PATCH", Path: "/tasks/{{.Alert.ID}}", Body: `{"v": {{json .Verdict.Verdikt}}}`}), "crm.verdict.body", "can't evaluate field Verdikt"},
		{"short token", func() dowser.Channel { c := crmChannel(good, nil); c.Secret = "short"; return c }(), "secret", "is 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var p dowser.Problems
			if !errors.As(err, &p) {
				t.Fatalf("Validate() = %v, want problems naming %s", err, tc.path)
			}
			for _, fe := range p {
				if fe.Field == tc.path && strings.Contains(fe.Reason, tc.say) {
					return
				}
			}
			t.Errorf("Validate() = %v, want %s: …%s…", err, tc.path, tc.say)
		})
	}
}

// TestCRMRenderKeepsTheHostAndTheSecret checks that a rendered request
// stays under the target whatever the alert holds, and that the secret
// reaches headers only.
func TestCRMRenderKeepsTheHostAndTheSecret(t *testing.T) {
	r := dowser.CRMRequest{Method: "POST", Path: "/accounts/{{.Alert.AccountID}}/tasks?sig={{urlquery .Alert.SignalID}}",
		Headers: map[string]string{"Authorization": "Bearer {{.Secret}}"}, Body: `{"s": {{json .Secret}}, "m": {{json .Alert.Message}}}`}
	data := dowser.CRMData{Alert: schema.Alert{ID: "al-1", AccountID: "acme", SignalID: "a b", Message: `say "hi"`, Time: time.Now()}, Secret: "tok-0123456789abcdef"}
	call, err := r.Render("https://crm.example.com/api/", data)
	if err != nil {
		t.Fatal(err)
	}
	if call.URL != "https://crm.example.com/api/accounts/acme/tasks?sig=a+b" {
		t.Errorf("URL = %s", call.URL)
	}
	if got := call.Header.Get("Authorization"); got != "Bearer tok-0123456789abcdef" {
		t.Errorf("Authorization = %q", got)
	}
	if want := `{"s": "", "m": "say \"hi\""}`; string(call.Body) != want {
		t.Errorf("body = %s, want %s (no secret, escaped message)", call.Body, want)
	}
	r.Path = "{{.Alert.AccountID}}/tasks"
	for _, account := range []string{"//evil.example.com", "/a\r\nHost: x", "evil.example.com"} {
		data.Alert.AccountID = account
		if call, err := r.Render("https://crm.example.com", data); err == nil {
			t.Errorf("account %q rendered to %s, want a refusal", account, call.URL)
		}
	}
	data.Alert.AccountID = "/@evil.example.com:443"
	if call, err := r.Render("https://crm.example.com", data); err != nil || !strings.HasPrefix(call.URL, "https://crm.example.com/") {
		t.Errorf("account %q rendered to %s, %v; want a path under the target", data.Alert.AccountID, call.URL, err)
	}
}
