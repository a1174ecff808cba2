package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

type streamStub struct{}

func (streamStub) Recheck(context.Context, string) {}

func (streamStub) ServeStream(w http.ResponseWriter, r *http.Request, userID string, _ func(context.Context) (bool, error)) {
	w.Header().Set("X-Stream-User", userID)
	w.WriteHeader(http.StatusTeapot)
}

func newServer(t *testing.T, cfg ...api.Config) (*httptest.Server, *postgres.Store) {
	t.Helper()
	cfg = append(cfg, api.Config{})
	return newServerWith(t, cfg[0], streamStub{})
}

func newServerWith(t *testing.T, cfg api.Config, stream api.Streamer) (*httptest.Server, *postgres.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []dowser.User{
		{ID: "admin", Name: "A", Role: dowser.RoleAdmin},
		{ID: "rep-ana", Name: "Ana", Role: dowser.RoleRep},
		{ID: "mkt-jane", Name: "Jane", Role: dowser.RoleMarketer},
		{ID: "tracker", Name: "Web tracker", Role: dowser.RoleSource},
		{ID: "mgr-max", Name: "Max", Role: dowser.RoleManager},
	} {
		if err := store.People.PutUser(ctx, u, tok(u.ID)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(cfg, api.Stores{People: store.People, Directory: store.Directory, Signals: store.Signals, Alerts: store.Alerts, Privacy: store.Privacy,
		Journey: store.Journey}, stream))
	t.Cleanup(srv.Close)
	return srv, store
}

// bodyType is the Content-Type of a test body: JSON or a YAML signal.
func bodyType(body string) string {
	if t := strings.TrimSpace(body); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return "application/json"
	}
	return "application/yaml"
}

func tok(user string) string { return "tok-" + user + "-0123456789" }

func call(t *testing.T, srv *httptest.Server, method, path, token, body string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", bodyType(body))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const signalYAML = `id: pricing
owner: mkt-jane
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 7d
`

func TestAuthorizationPerEndpoint(t *testing.T) {
	srv, _ := newServer(t)
	// Each route with, per role, the status it must answer.
	type want struct{ none, rep, marketer, admin int }
	const ok, no, forbidden, unauth = 200, 204, 403, 401
	routes := []struct {
		method, path, body string
		want               want
	}{
		{"GET", "/v1/session", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/stream", "", want{unauth, 418, 418, 418}},
		{"PUT", "/v1/users/rep-new", `{"name":"New","role":"rep"}`, want{unauth, forbidden, forbidden, ok}},
		{"GET", "/v1/users/rep-ana", "", want{unauth, ok, forbidden, ok}},
		{"PUT", "/v1/accounts/acme", `{"name":"Acme","owner":"rep-ana"}`, want{unauth, forbidden, forbidden, ok}},
		{"GET", "/v1/accounts/acme", "", want{unauth, ok, ok, ok}},
		{"PUT", "/v1/content/pricing-page", `{"title":"Pricing","owner":"mkt-jane"}`, want{unauth, forbidden, ok, ok}},
		{"GET", "/v1/content/pricing-page", "", want{unauth, ok, ok, ok}},
		{"PUT", "/v1/signals/pricing", signalYAML, want{unauth, forbidden, ok, ok}},
		{"GET", "/v1/signals/pricing", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/signals", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/alerts", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/alerts?state=new", "", want{unauth, ok, ok, 400}},
		{"PUT", "/v1/alerts/al-none/snooze", `{"until":"2099-01-01T00:00:00Z"}`, want{unauth, 400, 400, 400}},
		{"DELETE", "/v1/alerts/al-none/snooze", "", want{unauth, 404, 404, 404}},
		{"POST", "/v1/signals/pricing/disable", "", want{unauth, forbidden, ok, ok}},
		{"POST", "/v1/signals/pricing/enable", "", want{unauth, forbidden, ok, ok}},
		{"GET", "/v1/signals/pricing/history", "", want{unauth, ok, ok, ok}},
		{"POST", "/v1/signals/preview", signalYAML, want{unauth, forbidden, 503, 503}},
		{"GET", "/v1/signals/pricing/versions/1", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/signals/pricing/versions/9", "", want{unauth, 404, 404, 404}},
		{"POST", "/v1/events", `[{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}]`, want{unauth, forbidden, forbidden, 503}},
		{"DELETE", "/v1/customers/c-1", "", want{unauth, forbidden, forbidden, 202}},
		{"GET", "/v1/erasures", "", want{unauth, forbidden, forbidden, ok}},
		{"PUT", "/v1/do-not-track/customer/c-1", "", want{unauth, forbidden, forbidden, no}},
		{"DELETE", "/v1/do-not-track/customer/c-1", "", want{unauth, forbidden, forbidden, no}},
		{"PUT", "/v1/do-not-track/planet/earth", "", want{unauth, forbidden, forbidden, 400}},
		{"PUT", "/v1/contacts/c-1", `{"owner":"rep-ana","account_id":"acme"}`, want{unauth, forbidden, forbidden, ok}},
		{"GET", "/v1/contacts/c-1", "", want{unauth, ok, ok, ok}},
		{"PUT", "/v1/territory-rules/emea", `{"priority":1,"region":"emea","rep":"rep-ana"}`, want{unauth, forbidden, forbidden, ok}},
		{"GET", "/v1/territory-rules/emea", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/territory-rules", "", want{unauth, ok, ok, ok}},
		{"DELETE", "/v1/territory-rules/emea", "", want{unauth, forbidden, forbidden, no}},
		{"PUT", "/v1/managers/mgr-max/subscriptions/rep-ana", "", want{unauth, forbidden, forbidden, no}},
		{"DELETE", "/v1/managers/mgr-max/subscriptions/rep-ana", "", want{unauth, forbidden, forbidden, no}},
		{"GET", "/v1/managers/mgr-max/subscriptions", "", want{unauth, forbidden, forbidden, ok}},
		{"GET", "/v1/team", "", want{unauth, forbidden, forbidden, 400}},
		{"GET", "/v1/team?manager=mgr-max", "", want{unauth, forbidden, forbidden, ok}},
		{"GET", "/v1/alerts/unacked", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/signals/pricing/precision", "", want{unauth, ok, ok, ok}},
		{"GET", "/v1/precision", "", want{unauth, ok, ok, ok}},
		{"DELETE", "/v1/signals/pricing", "", want{unauth, forbidden, no, 404}},
	}
	for _, r := range routes {
		for _, who := range []struct {
			user string
			want int
		}{{"", r.want.none}, {"rep-ana", r.want.rep}, {"mkt-jane", r.want.marketer}, {"admin", r.want.admin}} {
			token := ""
			if who.user != "" {
				token = tok(who.user)
			}
			got, body := call(t, srv, r.method, r.path, token, r.body, nil)
			if got != who.want {
				t.Errorf("%s %s as %q = %d, want %d (%s)", r.method, r.path, who.user, got, who.want, body)
			}
		}
	}
}

// A source token posts events and reads nothing.
func TestSourceTokenOnlyPostsEvents(t *testing.T) {
	srv, _ := newServer(t)
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/session"}, {"GET", "/v1/alerts"}, {"GET", "/v1/signals"}, {"GET", "/v1/accounts/x"},
		{"GET", "/v1/stream"}, {"PUT", "/v1/content/x"}, {"GET", "/v1/users/tracker"},
	} {
		if status, _ := call(t, srv, r.method, r.path, tok("tracker"), `{}`, nil); status != http.StatusForbidden {
			t.Errorf("%s %s with a source token = %d, want 403", r.method, r.path, status)
		}
	}
	status, body := call(t, srv, "POST", "/v1/events", tok("tracker"), `[{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}]`, nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "does not accept events") {
		t.Errorf("posting without a producer = %d %s, want 503", status, body)
	}
}

func TestSignalValidationNamesTheField(t *testing.T) {
	srv, _ := newServer(t)
	bad := strings.Replace(signalYAML, "within: 7d", `within: "7x"`, 1)
	status, body := call(t, srv, "PUT", "/v1/signals/pricing", tok("mkt-jane"), bad, nil)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, `when.threshold.within`) || !strings.Contains(body, `"problems"`) {
		t.Errorf("invalid signal answered %d %s, want 422 naming when.threshold.within", status, body)
	}
	status, body = call(t, srv, "PUT", "/v1/signals/other", tok("mkt-jane"), signalYAML, nil)
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "does not match") {
		t.Errorf("mismatched id answered %d %s", status, body)
	}
	// JSON is accepted as well as YAML, and each save is a new version.
	js := `{"id":"pricing","owner":"mkt-jane","when":{"threshold":{"match":{"type":"page_view"},"count":2,"within":"1d"}}}`
	for i, want := range []string{`"version":1`, `"version":2`} {
		status, body = call(t, srv, "PUT", "/v1/signals/pricing?enabled=false", tok("mkt-jane"), js, nil)
		if status != http.StatusOK || !strings.Contains(body, want) || !strings.Contains(body, `"enabled":false`) {
			t.Errorf("save %d answered %d %s, want %s", i+1, status, body, want)
		}
	}
}

func TestSessionCookieLoginAndCSRF(t *testing.T) {
	srv, _ := newServer(t)
	status, _ := call(t, srv, "POST", "/v1/session", "", `{"token":"wrong"}`, nil)
	if status != http.StatusUnauthorized {
		t.Errorf("bad token login = %d, want 401", status)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/session", strings.NewReader(`{"token":"`+tok("mkt-jane")+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "dowser_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie = %+v, want HttpOnly SameSite=Strict", cookie)
	}
	if strings.Contains(cookie.Value, tok("mkt-jane")) {
		t.Fatal("the cookie carries the login token itself")
	}
	withCookie := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	if status, body := call(t, srv, "GET", "/v1/session", "", "", withCookie); status != 200 || !strings.Contains(body, `"mkt-jane"`) {
		t.Errorf("GET /v1/session with cookie = %d %s", status, body)
	}
	// A write with only the cookie is refused without the CSRF header...
	if status, _ := call(t, srv, "PUT", "/v1/content/x", "", `{"title":"X"}`, withCookie); status != http.StatusForbidden {
		t.Errorf("cookie write without CSRF header = %d, want 403", status)
	}
	withCookie.Set("X-Dowser-CSRF", "1")
	if status, body := call(t, srv, "PUT", "/v1/content/x", "", `{"title":"X"}`, withCookie); status != 200 {
		t.Errorf("cookie write with CSRF header = %d %s, want 200", status, body)
	}
	if status, _ := call(t, srv, "DELETE", "/v1/session", "", "", withCookie); status != http.StatusNoContent {
		t.Errorf("logout = %d", status)
	}
	if status, _ := call(t, srv, "GET", "/v1/session", "", "", withCookie); status != http.StatusUnauthorized {
		t.Errorf("session after logout = %d, want 401", status)
	}
}

func TestRequestLimitsAndBadInput(t *testing.T) {
	srv, _ := newServer(t)
	big := `{"title":"` + strings.Repeat("x", 2<<20) + `"}`
	if status, _ := call(t, srv, "PUT", "/v1/content/x", tok("admin"), big, nil); status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body = %d, want 413", status)
	}
	if status, body := call(t, srv, "PUT", "/v1/users/x", tok("admin"), `{"name":"X","role":"boss"}`, nil); status != 400 || !strings.Contains(body, "role") {
		t.Errorf("bad role = %d %s", status, body)
	}
	if status, body := call(t, srv, "PUT", "/v1/accounts/x", tok("admin"), `{"name":"X","colour":"red"}`, nil); status != 400 || !strings.Contains(body, "colour") {
		t.Errorf("unknown field = %d %s", status, body)
	}
	if status, _ := call(t, srv, "GET", "/v1/accounts/none", tok("admin"), "", nil); status != 404 {
		t.Errorf("unknown account = %d, want 404", status)
	}
	if status, _ := call(t, srv, "GET", "/v1/alerts?limit=0", tok("admin"), "", nil); status != 400 {
		t.Errorf("limit=0 = %d, want 400", status)
	}
}
