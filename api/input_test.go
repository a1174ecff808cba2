package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/schema"
)

type producerStub struct{}

func (producerStub) ProduceEvents(context.Context, string, []schema.Event, [][]byte) error {
	return nil
}

// Every request body is decoded by one strict helper: the right media
// type, one JSON value, no member twice, UTF-8 without NUL; and every
// field is validated by schema's one set of rules. Each refusal is a 4xx
// that names what is wrong.
func TestStrictRequestDecoding(t *testing.T) {
	srv, _ := newServer(t, api.Config{Events: producerStub{}})
	admin, jane := tok("admin"), tok("mkt-jane")
	for _, c := range []struct {
		name, method, path, token, body string
		header                          http.Header
		want                            int
		contains                        []string
	}{
		{"text/plain login", "POST", "/v1/session", "", `{"token":"` + tok("admin") + `"}`, http.Header{"Content-Type": {"text/plain"}}, 415, []string{"Content-Type", "text/plain"}},
		{"form login", "POST", "/v1/session", "", `{"token":"` + tok("admin") + `"}`, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, 415, []string{"Content-Type"}},
		{"JSON with a latin-1 charset", "PUT", "/v1/users/x", admin, `{"name":"X","role":"rep"}`, http.Header{"Content-Type": {"application/json; charset=latin1"}}, 415, []string{"charset"}},
		{"JSON with utf-8 charset", "PUT", "/v1/users/x", admin, `{"name":"X","role":"rep"}`, http.Header{"Content-Type": {"application/json; charset=UTF-8"}}, 200, nil},
		{"signal as text/plain", "PUT", "/v1/signals/pricing", jane, signalYAML, http.Header{"Content-Type": {"text/plain"}}, 415, []string{"application/yaml"}},
		{"trailing garbage", "POST", "/v1/session", "", `{"token":"` + tok("admin") + `"} garbage`, nil, 400, []string{"trailing data"}},
		{"second value", "POST", "/v1/session", "", `{"token":"` + tok("admin") + `"}{}`, nil, 400, []string{"trailing data"}},
		{"duplicate role", "PUT", "/v1/users/x", admin, `{"name":"X","role":"rep","role":"admin"}`, nil, 400, []string{"role: member named twice"}},
		{"duplicate role in another case", "PUT", "/v1/users/x", admin, `{"name":"X","role":"rep","ROLE":"admin"}`, nil, 400, []string{"ROLE: member named twice"}},
		{"duplicate deep in an event", "POST", "/v1/events", admin, `[{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c","id":"d"}}]`, nil, 400, []string{"[0].customer.id: member named twice"}},
		{"duplicate events wrapper", "POST", "/v1/events", admin, `{"events":[],"events":[{}]}`, nil, 400, []string{"events: member named twice"}},
		{"deep nesting", "PUT", "/v1/accounts/x", admin, strings.Repeat("[", 100000), nil, 400, []string{"nested deeper than 10000"}},
		{"deep objects", "PUT", "/v1/accounts/x", admin, strings.Repeat(`{"a":`, 20000), nil, 400, []string{"nested deeper than 10000"}},
		{"invalid UTF-8", "PUT", "/v1/accounts/x", admin, "{\"name\":\"A\xffB\"}", nil, 400, []string{"UTF-8"}},
		{"NUL in a name", "PUT", "/v1/accounts/x", admin, `{"name":"A\u0000B"}`, nil, 400, []string{"name: contains a NUL"}},
		{"NUL in a title and url", "PUT", "/v1/content/x", admin, `{"title":"A\u0000","url_prefix":"https://x.example/\u0000"}`, nil, 400, []string{"title: contains a NUL", "url_prefix: contains a NUL"}},
		{"long name", "PUT", "/v1/users/x", admin, `{"name":"` + strings.Repeat("n", 257) + `","role":"rep"}`, nil, 400, []string{"name: is 257 bytes"}},
		{"priority 2^31", "PUT", "/v1/territory-rules/r", admin, `{"priority":2147483648,"rep":"rep-ana"}`, nil, 400, []string{"priority: 2147483648 is out of range"}},
		{"version 2^31", "GET", "/v1/signals/x/versions/2147483648", admin, "", nil, 400, []string{"version:"}},
		{"NUL escaped in a signal", "PUT", "/v1/signals/pricing", jane, strings.Replace(signalYAML, "id: pricing", "id: pricing\nname: \"a\\0b\"", 1), nil, 422, []string{"name: contains a NUL"}},
		{"signal owned by a rep", "PUT", "/v1/signals/pricing", jane, strings.Replace(signalYAML, "owner: mkt-jane", "owner: rep-ana", 1), nil, 422, []string{`owner: \"rep-ana\" is a rep`}},
		{"signal owned by nobody", "PUT", "/v1/signals/pricing", jane, strings.Replace(signalYAML, "owner: mkt-jane", "owner: mkt-gone", 1), nil, 422, []string{`owner: no user \"mkt-gone\"`}},
	} {
		status, body := call(t, srv, c.method, c.path, c.token, c.body, c.header)
		ok := status == c.want
		for _, s := range c.contains {
			ok = ok && strings.Contains(body, s)
		}
		if !ok {
			t.Errorf("%s: %s %s = %d %s, want %d containing %q", c.name, c.method, c.path, status, body, c.want, c.contains)
		}
	}
}

// The attack: a marketer points a catch-all content item at a rep.
// Both fields are refused in one answer, and nothing is stored.
func TestContentOwnerAndURLPrefixAreChecked(t *testing.T) {
	srv, _ := newServer(t)
	jane := tok("mkt-jane")
	status, body := call(t, srv, "PUT", "/v1/content/x", jane, `{"url_prefix":"https://","owner":"rep-ana"}`, nil)
	var got struct {
		Error    string
		Problems []struct{ Path, Reason string }
	}
	_ = json.Unmarshal([]byte(body), &got)
	if status != 400 || len(got.Problems) != 2 || got.Problems[0].Path != "url_prefix" || got.Problems[1].Path != "owner" {
		t.Fatalf("attack = %d %s, want 400 naming url_prefix and owner", status, body)
	}
	if status, _ := call(t, srv, "GET", "/v1/content/x", jane, "", nil); status != 404 {
		t.Errorf("refused content was stored: GET = %d", status)
	}
	for _, c := range []struct {
		path, body string
		want       int
		contains   string
	}{
		{"/v1/content/x", `{"url_prefix":"https://example.com"}`, 400, "must end its host with a /"},
		{"/v1/content/x", `{"url_prefix":"example.com/pricing"}`, 400, "http:// or https://"},
		{"/v1/content/x", `{"url_prefix":"https://u:p@example.com/"}`, 400, "user name"},
		{"/v1/content/x", `{"url_prefix":"https://example.com/pricing","owner":"nobody"}`, 400, `owner: no user \"nobody\"`},
		{"/v1/content/x", `{"url_prefix":"https://example.com/pricing","owner":"admin"}`, 200, ""},
		{"/v1/content/x", `{"url_prefix":"https://example.com/pricing","owner":"mkt-jane"}`, 200, ""},
		{"/v1/accounts/a", `{"owner":"mkt-jane"}`, 400, `is a marketer; the owner of an account must be a rep or manager`},
		{"/v1/accounts/a", `{"owner":"mgr-max"}`, 200, ""},
		{"/v1/contacts/c", `{"owner":"tracker"}`, 400, `is a source`},
		{"/v1/contacts/c", `{"owner":"rep-ana"}`, 200, ""},
		{"/v1/territory-rules/r", `{"rep":"admin"}`, 400, `is an admin; the owner of a territory rule must be a rep or manager`},
		{"/v1/territory-rules/r", `{"rep":"rep-nobody"}`, 400, `rep: no user`},
	} {
		status, body := call(t, srv, "PUT", c.path, tok("admin"), c.body, nil)
		if status != c.want || !strings.Contains(body, c.contains) {
			t.Errorf("PUT %s %s = %d %s, want %d containing %q", c.path, c.body, status, body, c.want, c.contains)
		}
	}
}
