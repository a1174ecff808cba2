package api_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser/api"
)

// clock is a settable time for the throttle.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var localProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}

func from(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

func TestFailedLoginsAreThrottledPerAddress(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	srv, _ := newServerWith(t, api.Config{Now: clk.now, TrustedProxies: localProxy, AuthFailuresPerMinute: 5}, streamStub{})
	for i := range 5 {
		if status, body := call(t, srv, "POST", "/v1/session", "", `{"token":"guess-`+strings.Repeat("x", i)+`"}`, from("198.51.100.7")); status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d = %d %s, want 401", i, status, body)
		}
	}
	// The sixth try is refused before the token is looked at: even the
	// right token, and a bearer token, from that address.
	req, _ := http.NewRequest("POST", srv.URL+"/v1/session", strings.NewReader(`{"token":"`+tok("rep-ana")+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "12" {
		t.Fatalf("login after 5 failures = %d Retry-After %q, want 429 after 12 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if status, _ := call(t, srv, "GET", "/v1/session", tok("rep-ana"), "", from("198.51.100.7")); status != http.StatusTooManyRequests {
		t.Errorf("bearer request from a throttled address = %d, want 429", status)
	}
	// Another address is not affected.
	if status, body := call(t, srv, "POST", "/v1/session", "", `{"token":"`+tok("rep-ana")+`"}`, from("198.51.100.8")); status != http.StatusOK {
		t.Errorf("login from another address = %d %s", status, body)
	}
	// One try comes back every 12 s.
	clk.add(12 * time.Second)
	if status, body := call(t, srv, "POST", "/v1/session", "", `{"token":"`+tok("rep-ana")+`"}`, from("198.51.100.7")); status != http.StatusOK {
		t.Errorf("login 12 s later = %d %s, want 200", status, body)
	}
}

func TestUnknownBearerTokensAreThrottledPerTokenPrefix(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	srv, _ := newServerWith(t, api.Config{Now: clk.now, TrustedProxies: localProxy, AuthFailuresPerMinute: 3}, streamStub{})
	// A guesser spreads over addresses but varies only the end of a token.
	for i := range 3 {
		addr := "203.0.113." + string(rune('1'+i))
		if status, _ := call(t, srv, "GET", "/v1/alerts", "tok-rep-ana-guess-"+string(rune('a'+i)), "", from(addr)); status != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i, status)
		}
	}
	status, body := call(t, srv, "GET", "/v1/alerts", "tok-rep-ana-guess-z", "", from("203.0.113.9"))
	if status != http.StatusTooManyRequests || !strings.Contains(body, "retry in") {
		t.Errorf("fourth guess with the same prefix = %d %s, want 429", status, body)
	}
	// A token with another prefix, from a fresh address, still works.
	if status, _ := call(t, srv, "GET", "/v1/session", "ok-"+tok("rep-ana"), "", from("203.0.113.10")); status != http.StatusUnauthorized {
		t.Errorf("other prefix = %d, want 401 (unknown, not throttled)", status)
	}
	// An untrusted peer cannot pick its bucket with X-Forwarded-For.
	srv2, _ := newServerWith(t, api.Config{Now: clk.now, AuthFailuresPerMinute: 2}, streamStub{})
	for i := range 2 {
		call(t, srv2, "GET", "/v1/alerts", "wrong-token-number-"+string(rune('a'+i))+"-0123456789", "", from("192.0.2."+string(rune('1'+i))))
	}
	if status, _ := call(t, srv2, "GET", "/v1/alerts", "other-token-0123456789", "", from("192.0.2.9")); status != http.StatusTooManyRequests {
		t.Errorf("untrusted X-Forwarded-For changed the address: %d, want 429", status)
	}
}

func TestWeakTokensAreRefused(t *testing.T) {
	srv, _ := newServer(t)
	for _, weak := range []string{"secret", "0123456789012345678", strings.Repeat("ab", 16)} {
		status, body := call(t, srv, "PUT", "/v1/users/rep-new", tok("admin"), `{"name":"New","role":"rep","token":"`+weak+`"}`, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, "token:") || strings.Contains(body, weak) {
			t.Errorf("token %q = %d %s, want 400 naming the field, not echoing the token", weak, status, body)
		}
	}
	if status, body := call(t, srv, "PUT", "/v1/users/rep-new", tok("admin"), `{"name":"New","role":"rep","token":"3f9c1e0b7a4d2c8e6f1a0b9c"}`, nil); status != http.StatusOK {
		t.Errorf("good token = %d %s", status, body)
	}
}

func cookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "dowser_session" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header)
	return nil
}

func TestSessionCookieIsSecureBehindTLS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   api.CookieSecurity
		header http.Header
		want   bool
	}{
		{"auto over plain HTTP", api.CookiesSecureAuto, nil, false},
		{"auto behind a trusted TLS proxy", api.CookiesSecureAuto, http.Header{"X-Forwarded-Proto": {"https"}}, true},
		{"auto behind a trusted plain proxy", api.CookiesSecureAuto, http.Header{"X-Forwarded-Proto": {"http"}}, false},
		{"always", api.CookiesSecureAlways, nil, true},
		{"never behind TLS", api.CookiesSecureNever, http.Header{"X-Forwarded-Proto": {"https"}}, false},
		{"unset is auto", "", http.Header{"X-Forwarded-Proto": {"https"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newServerWith(t, api.Config{SecureCookies: tc.mode, TrustedProxies: localProxy}, streamStub{})
			req, _ := http.NewRequest("POST", srv.URL+"/v1/session", strings.NewReader(`{"token":"`+tok("rep-ana")+`"}`))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			login := cookieOf(t, resp)
			if login.Secure != tc.want {
				t.Errorf("login cookie Secure = %v, want %v", login.Secure, tc.want)
			}
			// The logout's clearing cookie carries the same attributes.
			req, _ = http.NewRequest("DELETE", srv.URL+"/v1/session", nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			req.Header.Set("Cookie", "dowser_session="+login.Value)
			req.Header.Set("X-Dowser-CSRF", "1")
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			out := cookieOf(t, resp)
			if out.Secure != login.Secure || out.HttpOnly != login.HttpOnly || out.SameSite != login.SameSite || out.Path != login.Path || out.MaxAge >= 0 {
				t.Errorf("logout cookie %+v does not clear login cookie %+v", out, login)
			}
		})
	}
	// A client cannot claim TLS itself.
	srv, _ := newServerWith(t, api.Config{}, streamStub{})
	req, _ := http.NewRequest("POST", srv.URL+"/v1/session", strings.NewReader(`{"token":"`+tok("rep-ana")+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cookieOf(t, resp).Secure {
		t.Error("an untrusted X-Forwarded-Proto made the cookie Secure")
	}
}

// recheckStub records the users whose streams were rechecked.
type recheckStub struct {
	streamStub
	mu    sync.Mutex
	users []string
}

func (r *recheckStub) Recheck(_ context.Context, user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users = append(r.users, user)
}

func TestRevokingCredentialsEndsSessions(t *testing.T) {
	stream := &recheckStub{}
	srv, _ := newServerWith(t, api.Config{}, stream)
	login := func(token string) http.Header {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/session", "application/json", strings.NewReader(`{"token":"`+token+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login = %d", resp.StatusCode)
		}
		return http.Header{"Cookie": {"dowser_session=" + cookieOf(t, resp).Value}, "X-Dowser-CSRF": {"1"}}
	}
	cookie := login(tok("rep-ana"))
	// Rotating the token ends the session and the old token.
	newToken := "rotated-" + tok("rep-ana")
	if status, body := call(t, srv, "PUT", "/v1/users/rep-ana", tok("admin"), `{"name":"Ana","role":"rep","token":"`+newToken+`"}`, nil); status != 200 {
		t.Fatalf("rotate = %d %s", status, body)
	}
	if status, _ := call(t, srv, "GET", "/v1/session", "", "", cookie); status != http.StatusUnauthorized {
		t.Errorf("old cookie after rotation = %d, want 401", status)
	}
	if status, _ := call(t, srv, "GET", "/v1/session", tok("rep-ana"), "", nil); status != http.StatusUnauthorized {
		t.Errorf("old token after rotation = %d, want 401", status)
	}
	// Disabling ends the new session and refuses logins.
	cookie = login(newToken)
	if status, body := call(t, srv, "PUT", "/v1/users/rep-ana", tok("admin"), `{"name":"Ana","role":"rep","disabled":true}`, nil); status != 200 || !strings.Contains(body, `"disabled":true`) {
		t.Fatalf("disable = %d %s", status, body)
	}
	if status, _ := call(t, srv, "GET", "/v1/session", "", "", cookie); status != http.StatusUnauthorized {
		t.Errorf("cookie of a disabled user = %d, want 401", status)
	}
	if status, _ := call(t, srv, "POST", "/v1/session", "", `{"token":"`+newToken+`"}`, nil); status != http.StatusUnauthorized {
		t.Errorf("login of a disabled user = %d, want 401", status)
	}
	// Deleting: the session ends, reads answer 404, the id stays reserved.
	cookie = login(tok("mkt-jane"))
	if status, body := call(t, srv, "DELETE", "/v1/users/mkt-jane", tok("admin"), "", nil); status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", status, body)
	}
	if status, _ := call(t, srv, "GET", "/v1/session", "", "", cookie); status != http.StatusUnauthorized {
		t.Errorf("cookie of a deleted user = %d, want 401", status)
	}
	if status, _ := call(t, srv, "GET", "/v1/users/mkt-jane", tok("admin"), "", nil); status != http.StatusNotFound {
		t.Errorf("GET deleted user = %d, want 404", status)
	}
	if status, body := call(t, srv, "PUT", "/v1/users/mkt-jane", tok("admin"), `{"name":"Jane","role":"marketer"}`, nil); status != http.StatusConflict || !strings.Contains(body, "id:") {
		t.Errorf("PUT deleted id = %d %s, want 409 naming the id", status, body)
	}
	if status, _ := call(t, srv, "DELETE", "/v1/users/mkt-jane", tok("admin"), "", nil); status != http.StatusNotFound {
		t.Errorf("deleting twice = %d, want 404", status)
	}
	if status, _ := call(t, srv, "DELETE", "/v1/users/admin", tok("admin"), "", nil); status != http.StatusConflict {
		t.Errorf("admin deleting themself = %d, want 409", status)
	}
	if status, _ := call(t, srv, "DELETE", "/v1/users/rep-ana", tok("mgr-max"), "", nil); status != http.StatusForbidden {
		t.Errorf("manager deleting a user = %d, want 403", status)
	}
	stream.mu.Lock()
	defer stream.mu.Unlock()
	if got := strings.Join(stream.users, ","); !strings.Contains(got, "rep-ana") || !strings.Contains(got, "mkt-jane") {
		t.Errorf("streams rechecked for %q, want rep-ana and mkt-jane", got)
	}
}
