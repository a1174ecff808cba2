package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// memHistory is an in-memory History and Actions for the hub's unit tests.
type memHistory struct {
	mu   sync.Mutex
	ds   map[string][]schema.Delivery
	gate chan struct{} // when set, LastSeq waits for it
	// waiting, when set, hears each LastSeq call that starts waiting on
	// gate: a writer that calls it has registered its connection.
	waiting chan struct{}
}

func (m *memHistory) add(user string, seq int64) schema.Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := schema.Delivery{UserID: user, Seq: seq, AlertID: fmt.Sprintf("al-%d", seq), Alert: json.RawMessage(fmt.Sprintf(`{"id":"al-%d"}`, seq))}
	m.ds[user] = append(m.ds[user], d)
	return d
}

func (m *memHistory) DeliveriesAfter(_ context.Context, user string, after int64, limit int) ([]schema.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []schema.Delivery
	for _, d := range m.ds[user] {
		if d.Seq > after && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (m *memHistory) LastSeq(_ context.Context, user string) (int64, error) {
	if m.gate != nil {
		if m.waiting != nil {
			m.waiting <- struct{}{}
		}
		<-m.gate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var last int64
	for _, d := range m.ds[user] {
		last = max(last, d.Seq)
	}
	return last, nil
}

func (m *memHistory) Ack(_ context.Context, user, id, _ string) error {
	if id == "al-1" {
		return nil
	}
	return dowser.ErrNotFound
}

func (m *memHistory) Seen(ctx context.Context, user, id string) error {
	return m.Ack(ctx, user, id, "")
}

func (m *memHistory) Feedback(ctx context.Context, user, id, verdict, note, _ string) error {
	return m.Ack(ctx, user, id, "")
}

func newTestHub(t *testing.T, cfg HubConfig, h *memHistory) (*Hub, *httptest.Server) {
	return newTestHubActing(t, cfg, h, h)
}

// newTestHubActing is newTestHub with actions recorded by a of their own.
func newTestHubActing(t *testing.T, cfg HubConfig, h History, a Actions) (*Hub, *httptest.Server) {
	hub := NewHub(cfg, h, a, prometheus.NewRegistry())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeStream(w, r, r.URL.Query().Get("user"), nil)
	}))
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return hub, srv
}

func dial(t *testing.T, srv *httptest.Server, user string, header http.Header) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?user="+user, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f map[string]any
	if err := c.ReadJSON(&f); err != nil {
		t.Fatalf("reading frame: %v", err)
	}
	return f
}

func seqOf(t *testing.T, f map[string]any) int64 {
	t.Helper()
	if f["op"] != "alert" {
		t.Fatalf("frame %v is not an alert", f)
	}
	return int64(f["seq"].(float64))
}

func TestHubFillsGapsFromHistory(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub, srv := newTestHub(t, HubConfig{}, h)
	c := dial(t, srv, "ana", nil)
	if f := read(t, c); f["op"] != "hello" || f["last_seq"] != 0.0 {
		t.Fatalf("hello = %v", f)
	}
	// Two partitions committed seq 1 and 2; the hub hears of 2 first.
	d1, d2 := h.add("ana", 1), h.add("ana", 2)
	hub.Deliver(d2)
	hub.Deliver(d1)
	d3 := h.add("ana", 3)
	hub.Deliver(d3)
	var got []int64
	for range 3 {
		got = append(got, seqOf(t, read(t, c)))
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("seqs = %v, want [1 2 3], each once and in order", got)
	}
}

func TestHubResumeReplaysOnlyWhatWasMissed(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	for i := int64(1); i <= 5; i++ {
		h.add("ana", i)
	}
	h.add("ben", 1)
	hub, srv := newTestHub(t, HubConfig{}, h)
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello
	if err := c.WriteJSON(map[string]any{"op": "resume", "after": 3}); err != nil {
		t.Fatal(err)
	}
	if s := seqOf(t, read(t, c)); s != 4 {
		t.Fatalf("first replayed seq = %d, want 4", s)
	}
	if s := seqOf(t, read(t, c)); s != 5 {
		t.Fatalf("second replayed seq = %d, want 5", s)
	}
	// A live copy of an already replayed delivery is not sent again.
	hub.Deliver(h.ds["ana"][4], h.add("ana", 6))
	if s := seqOf(t, read(t, c)); s != 6 {
		t.Fatalf("next seq = %d, want 6", s)
	}
	// Claiming to have seen more than exists cannot skip future alerts.
	if err := c.WriteJSON(map[string]any{"op": "resume", "after": 100}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteJSON(map[string]any{"op": "ack", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, c); f["op"] != "acked" {
		t.Fatalf("ack answer = %v", f)
	}
	hub.Deliver(h.add("ana", 7))
	if s := seqOf(t, read(t, c)); s != 7 {
		t.Fatalf("after an over-claiming resume, seq = %d, want 7", s)
	}
}

func TestHubAnswersBadFramesWithErrors(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	_, srv := newTestHub(t, HubConfig{}, h)
	c := dial(t, srv, "ana", nil)
	read(t, c)
	for _, tc := range []struct{ frame, want string }{
		{`nope`, "not a JSON object"},
		{`{"op":"dance"}`, `unknown op "dance"`},
		{`{"op":"resume","after":-1}`, "after must be >= 0"},
		{`{"op":"ack"}`, "id is required"},
		{`{"op":"ack","id":"al-9"}`, "no such alert for this user"},
		{`{"op":"seen"}`, "seen: id is required"},
		{`{"op":"seen","id":"al-9"}`, "seen: no such alert for this user"},
		{`{"op":"feedback","id":"al-1","verdict":"meh"}`, "verdict must be useful, not_useful or won"},
	} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(tc.frame)); err != nil {
			t.Fatal(err)
		}
		f := read(t, c)
		if f["op"] != "error" || !strings.Contains(f["error"].(string), tc.want) {
			t.Errorf("%s answered %v, want an error containing %q", tc.frame, f, tc.want)
		}
	}
	if err := c.WriteJSON(map[string]any{"op": "feedback", "id": "al-1", "verdict": "won"}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, c); f["op"] != "feedback_saved" || f["verdict"] != "won" {
		t.Errorf("feedback answer = %v", f)
	}
	if err := c.WriteJSON(map[string]any{"op": "seen", "id": "al-1"}); err != nil {
		t.Fatal(err)
	}
	if f := read(t, c); f["op"] != "seen_ok" || f["id"] != "al-1" {
		t.Errorf("seen answer = %v, want seen_ok for al-1", f)
	}
}

func TestHubKnowsWhoIsConnected(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub, srv := newTestHub(t, HubConfig{}, h)
	if hub.Connected("ana") {
		t.Fatal("ana connected before dialing")
	}
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello: registered
	if !hub.Connected("ana") || hub.Connected("ben") {
		t.Errorf("Connected(ana) = %v, Connected(ben) = %v; want true, false", hub.Connected("ana"), hub.Connected("ben"))
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for hub.Connected("ana") {
		if time.Now().After(deadline) {
			t.Fatal("ana still connected 5 s after closing")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHubDropsSlowClientWithoutBlocking(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}, gate: make(chan struct{}), waiting: make(chan struct{}, 1)}
	const writeTimeout = 100 * time.Millisecond
	hub, srv := newTestHub(t, HubConfig{QueueSize: 2, WriteTimeout: writeTimeout}, h)
	c := dial(t, srv, "ana", nil)
	// The writer is stuck before its loop (LastSeq waits on the gate), so
	// nothing drains the queue: the third delivery overflows it. The dial
	// returns before the server registers the connection; the writer's
	// LastSeq says it has.
	select {
	case <-h.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection's writer never asked for the last sequence")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); i <= 3; i++ {
			hub.Deliver(h.add("ana", i))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver blocked on a slow client")
	}
	// An overflow alone is a burst (see the next test); a client still
	// behind a write timeout later is too slow. Time is what is tested.
	time.Sleep(2 * writeTimeout)
	close(h.gate)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != CloseTooSlow {
			t.Fatalf("connection ended with %v, want close code %d", err, CloseTooSlow)
		}
		return
	}
}

// A client that reads as fast as it can is not dropped because a burst
// arrives faster than its writer writes: after a failover, or when the
// alerts topic catches up, thousands of deliveries reach the hub at once,
// many of them already sent. The client sees every one once, in order.
func TestHubKeepsAReadingClientThroughABurst(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub, srv := newTestHub(t, HubConfig{}, h)
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello: registered
	const n = 5000
	go func() {
		for i := int64(1); i <= n; i++ {
			d := h.add("ana", i)
			hub.Deliver(d)
			hub.Deliver(d) // the alerts topic's copy of a local delivery
		}
	}()
	for want := int64(1); want <= n; want++ {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var f map[string]any
		if err := c.ReadJSON(&f); err != nil {
			t.Fatalf("after %d of %d alerts: %v", want-1, n, err)
		}
		if s := seqOf(t, f); s != want {
			t.Fatalf("seq = %d, want %d", s, want)
		}
	}
}

func TestHubRejectsForeignOrigins(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	_, srv := newTestHub(t, HubConfig{AllowedOrigins: []string{"https://panel.example"}}, h)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?user=ana"
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err=%v resp=%v, want 403", err, resp)
	}
	for _, origin := range []string{srv.URL, strings.ToUpper(srv.URL), "https://panel.example", "https://panel.example:443"} {
		c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
		if err != nil {
			t.Errorf("origin %s refused: %v", origin, err)
			continue
		}
		c.Close()
	}
	// The same host under another scheme or port is another origin.
	host := strings.TrimPrefix(srv.URL, "http://")
	hostname, _, _ := strings.Cut(host, ":")
	for _, origin := range []string{"https://" + host, "http://" + hostname, "http://" + hostname + ":1", "http://panel.example", "https://panel.example:8443", "null"} {
		_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s: err=%v resp=%v, want 403", origin, err, resp)
		}
	}
	// Behind a TLS-terminating proxy the browser's origin is https.
	h2 := http.Header{"Origin": {"https://" + host}, "X-Forwarded-Proto": {"https"}}
	c, _, err := websocket.DefaultDialer.Dial(url, h2)
	if err != nil {
		t.Fatalf("https origin behind a TLS proxy refused: %v", err)
	}
	c.Close()
}

func TestHubPingsIdleConnectionsAndDropsSilentOnes(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub, srv := newTestHub(t, HubConfig{PingInterval: time.Second}, h)
	c := dial(t, srv, "ana", nil)
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// A second between pings: under load a 100 ms interval dropped ana too,
	// whose pong (due within two intervals) was late, not missing.
	for i := range 3 {
		select {
		case <-pings:
		case <-time.After(15 * time.Second):
			t.Fatalf("ping %d did not come within 15s", i+1)
		}
	}
	// A client that answers nothing is dropped after two intervals.
	silent, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/?user=ben", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetPingHandler(func(string) error { return nil })
	deadline := time.Now().Add(15 * time.Second)
	for !hub.Connected("ben") {
		if time.Now().After(deadline) {
			t.Fatal("ben never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() {
		for {
			if _, _, err := silent.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for hub.Connected("ben") {
		if time.Now().After(deadline) {
			t.Fatal("a client answering no ping is still connected after 15s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !hub.Connected("ana") {
		t.Error("ana, who answers pings, was dropped")
	}
}

func TestHubRecheckClosesOnlyRevokedCredentials(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub := NewHub(HubConfig{}, h, h, prometheus.NewRegistry())
	var mu sync.Mutex
	valid := map[string]bool{"s1": true, "s2": true}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := r.URL.Query().Get("cred")
		hub.ServeStream(w, r, r.URL.Query().Get("user"), func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return valid[cred], nil
		})
	}))
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	s1 := dial(t, srv, "ana&cred=s1", nil)
	s2 := dial(t, srv, "ana&cred=s2", nil)
	ben := dial(t, srv, "ben&cred=s1", nil)
	for _, c := range []*websocket.Conn{s1, s2, ben} {
		if f := read(t, c); f["op"] != "hello" {
			t.Fatalf("hello = %v", f)
		}
	}
	mu.Lock()
	valid["s1"] = false
	mu.Unlock()
	hub.Recheck(context.Background(), "ana")

	_ = s1.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := s1.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseSessionRevoked || ce.Text != "session revoked" {
		t.Fatalf("revoked socket ended with %v, want close %d \"session revoked\"", err, CloseSessionRevoked)
	}
	// The other session of the user, and another user with a credential
	// that also ended but was not rechecked, stay open.
	for name, c := range map[string]*websocket.Conn{"ana's other session": s2, "ben": ben} {
		if err := c.WriteJSON(map[string]any{"op": "resume", "after": -1}); err != nil {
			t.Fatal(err)
		}
		if f := read(t, c); f["op"] != "error" {
			t.Errorf("%s: frame %v, want an error answer from a live socket", name, f)
		}
	}
	if !hub.Connected("ana") {
		t.Error("ana has no socket left")
	}
}

// A session that expires records no revocation: the hub checks each
// socket's credential on its own every RecheckInterval, and closes the
// socket once it fails, not before.
func TestHubClosesSocketsWhoseSessionExpired(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub := NewHub(HubConfig{RecheckInterval: 20 * time.Millisecond}, h, h, prometheus.NewRegistry())
	checks := make(chan bool, 100)
	var mu sync.Mutex
	expired := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.ServeStream(w, r, r.URL.Query().Get("user"), func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			select {
			case checks <- !expired:
			default:
			}
			return !expired, nil
		})
	}))
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	c := dial(t, srv, "ana", nil)
	if f := read(t, c); f["op"] != "hello" {
		t.Fatalf("hello = %v", f)
	}
	// Rechecked while valid, and still open.
	for range 3 {
		if ok := <-checks; !ok {
			t.Fatal("a check saw the session expired before it did")
		}
	}
	if !hub.Connected("ana") {
		t.Fatal("a valid session's socket was closed")
	}
	mu.Lock()
	expired = true
	mu.Unlock()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != CloseSessionRevoked {
		t.Fatalf("expired socket ended with %v, want close %d", err, CloseSessionRevoked)
	}
}
