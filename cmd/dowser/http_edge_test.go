package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// The HTTP edge against the real service: raw TCP clients that hold
// headers or bodies back, many connections from one address, and
// websockets whose credentials end on another instance.

// rawConn opens a TCP connection to the app and sends what.
func rawConn(t *testing.T, addr, what string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if what != "" {
		if _, err := io.WriteString(c, what); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// closedWithin reads c until the server closes it, failing if that takes
// longer than within; it returns what the server sent.
func closedWithin(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", within, b)
	}
	return string(b)
}

func TestEdgeSlowClientsAreCutOff(t *testing.T) {
	app := startApp(t, func(c *serveConfig) {
		c.ReadHeaderTimeout = 500 * time.Millisecond
		c.ReadTimeout = time.Second
		c.IdleTimeout = 500 * time.Millisecond
	})
	for _, tc := range []struct {
		name, send string
		after      time.Duration // the timeout that applies
		answer     bool          // a complete request is answered first
	}{
		{"headers never finish", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", 500 * time.Millisecond, false},
		// The login reads its body: only the read timeout ends it.
		{"login body never finishes", "POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"token\":", time.Second, false},
		{"idle keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 500 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c := rawConn(t, app.HTTPAddr(), tc.send)
			got := closedWithin(t, c, 10*time.Second)
			took := time.Since(start)
			if took < tc.after*8/10 {
				t.Errorf("closed after %v, before the %v timeout", took, tc.after)
			}
			if tc.answer != strings.HasPrefix(got, "HTTP/1.1 200") {
				t.Errorf("server sent %q", got)
			}
			t.Logf("closed after %v", took)
		})
	}
}

func TestEdgeUnauthenticatedSlowBodyGets401AtOnce(t *testing.T) {
	// ReadTimeout is long: only answering before the body makes it prompt.
	app := startApp(t, func(c *serveConfig) {
		c.ReadHeaderTimeout = 10 * time.Second
		c.ReadTimeout = time.Minute
	})
	for name, req := range map[string]string{
		"content-length": "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{\"id\":",
		"chunked":        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7\r\n[{\"id\":\r\n",
		"wrong token":    "PUT /v1/users/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\nContent-Length: 5000\r\n\r\n{",
	} {
		t.Run(name, func(t *testing.T) {
			c := rawConn(t, app.HTTPAddr(), req)
			start := time.Now()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer while the body is pending: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			t.Logf("401 after %v with the body unfinished", time.Since(start))
			// The server does not wait for the rest of the body either.
			closedWithin(t, c, 5*time.Second)
		})
	}
}

func TestEdgeConnectionsPerAddressAreCapped(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.MaxConnsPerAddr = 4 })
	var held []net.Conn
	for range 4 {
		held = append(held, rawConn(t, app.HTTPAddr(), ""))
	}
	// The fifth is closed at once, without an answer.
	fifth := rawConn(t, app.HTTPAddr(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := closedWithin(t, fifth, 5*time.Second); got != "" {
		t.Errorf("refused connection answered %q", got)
	}
	// The held ones still work.
	if _, err := io.WriteString(held[0], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(held[0]), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("held connection: %v %v", resp, err)
	}
	// Closing frees the places; the refusal was counted.
	for _, c := range held {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + app.HTTPAddr() + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Polls refused while the server notices the closes count too.
			if !regexp.MustCompile(`(?m)^dowser_http_connections_refused_total [1-9]`).Match(body) {
				t.Errorf("/metrics does not count the refused connection")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after closing the held ones: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // the server notices the closes
	}
}

func TestEdgeWebsocketOutlivesTheReadTimeout(t *testing.T) {
	app := startApp(t, func(c *serveConfig) {
		c.ReadHeaderTimeout = 200 * time.Millisecond
		c.ReadTimeout = 200 * time.Millisecond
		c.IdleTimeout = 200 * time.Millisecond
	})
	app.seed()
	ana := app.connect("rep-ana")
	// Well past every HTTP timeout, the socket still answers.
	time.Sleep(time.Second)
	ana.send(map[string]any{"op": "ack"})
	if f := ana.next(5 * time.Second); f["op"] != "error" {
		t.Fatalf("frame %v, want the answer to a bad ack", f)
	}
}

// wsDial opens the stream with header and returns it after its hello.
func wsDial(t *testing.T, addr string, header http.Header) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/v1/stream", header)
	if err != nil {
		t.Fatalf("dialing stream: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello map[string]any
	if err := c.ReadJSON(&hello); err != nil || hello["op"] != "hello" {
		t.Fatalf("hello = %v, %v", hello, err)
	}
	return c
}

// revokedWithin waits for the server to close c with "session revoked".
func revokedWithin(t *testing.T, what string, c *websocket.Conn, within time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != notify.CloseSessionRevoked {
			t.Fatalf("%s: socket ended with %v, want close %d", what, err, notify.CloseSessionRevoked)
		}
		t.Logf("%s: socket closed %v after the revocation", what, time.Since(start))
		return
	}
}

// alive checks that c still answers a frame.
func alive(t *testing.T, what string, c *websocket.Conn) {
	t.Helper()
	if err := c.WriteJSON(map[string]any{"op": "ack"}); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f map[string]any
	if err := c.ReadJSON(&f); err != nil || f["op"] != "error" {
		t.Fatalf("%s: frame %v, %v; want the answer of a live socket", what, f, err)
	}
}

func loginCookie(t *testing.T, addr, token string) http.Header {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/v1/session", "application/json", strings.NewReader(`{"token":"`+token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "dowser_session" {
			return http.Header{"Cookie": {c.Name + "=" + c.Value}}
		}
	}
	t.Fatalf("login with token: %d, no cookie", resp.StatusCode)
	return nil
}

func TestEdgeRevocationClosesSocketsOnEveryInstance(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	db := pgtest.URL(t)
	shared := func(c *serveConfig) {
		c.KafkaBrokers = b.Addr()
		c.DatabaseURL = db
		c.RevocationPoll = 100 * time.Millisecond
	}
	appA := startApp(t, shared)
	appA.seed()
	appB := startApp(t, shared)
	const within = 5 * time.Second
	status := func(app *testApp, h http.Header) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+app.HTTPAddr()+"/v1/session", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

	// Rotation on A closes ana's sockets on B, by cookie and by token.
	cookie := loginCookie(t, appB.HTTPAddr(), token("rep-ana"))
	byCookie := wsDial(t, appB.HTTPAddr(), cookie)
	byToken := wsDial(t, appB.HTTPAddr(), bearer(token("rep-ana")))
	ben := wsDial(t, appB.HTTPAddr(), bearer(token("rep-ben")))
	rotated := "rotated-" + token("rep-ana")
	appA.do("PUT", "/v1/users/rep-ana", adminToken, map[string]string{"name": "Ana", "role": "rep", "token": rotated}, http.StatusOK, nil)
	revokedWithin(t, "rotation, cookie socket on B", byCookie, within)
	revokedWithin(t, "rotation, token socket on B", byToken, within)
	if s := status(appB, cookie); s != http.StatusUnauthorized {
		t.Errorf("old cookie on B after rotation = %d, want 401", s)
	}
	if s := status(appB, bearer(token("rep-ana"))); s != http.StatusUnauthorized {
		t.Errorf("old token on B after rotation = %d, want 401", s)
	}
	alive(t, "another user's socket", ben)

	// Logout on A closes that session's socket on B, not ana's others.
	cookie = loginCookie(t, appA.HTTPAddr(), rotated)
	byCookie = wsDial(t, appB.HTTPAddr(), cookie)
	byToken = wsDial(t, appB.HTTPAddr(), bearer(rotated))
	req, _ := http.NewRequest("DELETE", "http://"+appA.HTTPAddr()+"/v1/session", nil)
	req.Header.Set("Cookie", cookie.Get("Cookie"))
	req.Header.Set("X-Dowser-CSRF", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	revokedWithin(t, "logout, its socket on B", byCookie, within)
	alive(t, "the same user's token socket after a logout", byToken)

	// Disabling on A closes the token socket on B.
	appA.do("PUT", "/v1/users/rep-ana", adminToken, map[string]any{"name": "Ana", "role": "rep", "disabled": true}, http.StatusOK, nil)
	revokedWithin(t, "disabling", byToken, within)

	// Deleting ben on A closes his socket on B; his alerts' history stays.
	appA.do("DELETE", "/v1/users/rep-ben", adminToken, nil, http.StatusNoContent, nil)
	revokedWithin(t, "deletion", ben, within)
	appA.do("GET", "/v1/users/rep-ben", adminToken, nil, http.StatusNotFound, nil)
	appA.do("PUT", "/v1/users/rep-ben", adminToken, map[string]string{"name": "Ben", "role": "rep"}, http.StatusConflict, nil)
	if s := status(appB, bearer(token("rep-ben"))); s != http.StatusUnauthorized {
		t.Errorf("deleted user's token on B = %d, want 401", s)
	}
}
