package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// The end-to-end tests run the real service: embedded Kafka broker on a
// TCP port, a private PostgreSQL database, the HTTP server on :0. Events go
// in through a kafka-go writer; alerts come out on real websocket clients.

const adminToken = "test-admin-token-0123456789"

type testApp struct {
	*App
	t *testing.T
	// stop ends the service and waits for it; the test's cleanup calls it
	// too.
	stop func()
}

func startApp(t *testing.T, opts ...func(*serveConfig)) *testApp {
	t.Helper()
	return startAppWithLog(t, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel()})), opts...)
}

// startAppWithLog is startApp with the service logging to log.
func startAppWithLog(t *testing.T, log *slog.Logger, opts ...func(*serveConfig)) *testApp {
	t.Helper()
	cfg := serveConfig{
		HTTPAddr:          "127.0.0.1:0",
		DatabaseURL:       pgtest.URL(t),
		EmbeddedKafkaAddr: "127.0.0.1:0",
		EventsTopic:       "dowser.events",
		AlertsTopic:       "dowser.alerts",
		GroupID:           "dowser",
		Partitions:        3,
		Replication:       1,
		AdminToken:        adminToken,
		MaxEventBytes:     64 << 10,
		SignalsPoll:       50 * time.Millisecond,
		// As served: the buyer's journey is on by default.
		JourneyDays: defaultJourneyDays,
	}
	for _, o := range opts {
		o(&cfg)
	}
	app, err := newApp(cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	select {
	case <-app.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("app stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("app not ready within 30s")
	}
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return &testApp{App: app, t: t, stop: stop}
}

// do sends a REST request as the holder of token and decodes the JSON
// answer into out (when not nil); it fails the test on an unexpected status.
func (a *testApp) do(method, path, token string, body any, wantStatus int, out any) {
	a.t.Helper()
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		if t := strings.TrimSpace(b); !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
			contentType = "application/yaml" // a signal
		}
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr()+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		a.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
}

// putSignal saves a signal over REST and waits until the detectors run it.
func (a *testApp) putSignal(id, yaml string) {
	a.t.Helper()
	var stored struct{ Version int }
	a.do("PUT", "/v1/signals/"+id, adminToken, yaml, http.StatusOK, &stored)
	a.awaitSignals(10*time.Second, func(sigs []*detector.Signal) bool {
		return slices.ContainsFunc(sigs, func(s *detector.Signal) bool { return s.ID == id && s.Version == stored.Version })
	})
}

// awaitSignals waits until the detectors' signal set satisfies cond, and
// returns how long that took.
func (a *testApp) awaitSignals(within time.Duration, cond func([]*detector.Signal) bool) time.Duration {
	a.t.Helper()
	start := time.Now()
	timeout := time.After(within)
	for {
		enabled, changed := a.pipe.Signals()
		if cond(enabled) {
			return time.Since(start)
		}
		select {
		case <-changed:
		case <-timeout:
			a.t.Fatalf("signal set not as expected within %v", within)
		}
	}
}

// seed creates the people, accounts and content the tests route to.
func (a *testApp) seed() {
	for _, u := range []struct{ id, role string }{{"rep-ana", "rep"}, {"rep-ben", "rep"}, {"mkt-jane", "marketer"}, {"mkt-omar", "marketer"}} {
		a.do("PUT", "/v1/users/"+u.id, adminToken, map[string]string{"name": u.id, "role": u.role, "token": token(u.id)}, http.StatusOK, nil)
	}
	a.do("PUT", "/v1/accounts/acme", adminToken, map[string]string{"name": "Acme", "owner": "rep-ana", "lifecycle": "prospect"}, http.StatusOK, nil)
	a.do("PUT", "/v1/accounts/globex", adminToken, map[string]string{"name": "Globex", "owner": "rep-ben", "lifecycle": "prospect"}, http.StatusOK, nil)
	a.do("PUT", "/v1/content/pricing-page", adminToken, map[string]string{"title": "Pricing", "url_prefix": "https://example.com/pricing", "owner": "mkt-jane"}, http.StatusOK, nil)
	// Every pricing view from the third within an hour fires: cooldown 0
	// makes each further view a new alert, which the resume test needs.
	a.putSignal("pricing-research", `
id: pricing-research
name: Pricing research
owner: mkt-omar
audience: prospect
scope: account
priority: high
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 1h
cooldown: 0s
message: "{{.Account}}: pricing viewed {{.Count}} times"
`)
}

func token(user string) string { return "token-of-" + user + "-0123456789" }

var evSeq int

// pricingView returns an encoded pricing page view by customer of account.
func pricingView(account, customer string, at time.Time) (key, value []byte) {
	evSeq++
	ev := map[string]any{
		"id": fmt.Sprintf("evt-%s-%d", account, evSeq), "type": "page_view", "time": at.UTC().Format(time.RFC3339Nano),
		"source":     "test",
		"customer":   map[string]any{"id": customer, "account_id": account},
		"properties": map[string]any{"url": "https://example.com/pricing", "title": "Pricing"},
		"content_id": "pricing-page",
	}
	b, _ := json.Marshal(ev)
	return []byte(account), b
}

func (a *testApp) writer() *kafkago.Writer {
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(a.Brokers()...),
		Topic:        "dowser.events",
		Balancer:     &kafkago.Hash{},
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
	}
	a.t.Cleanup(func() { w.Close() })
	return w
}

func (a *testApp) produce(w *kafkago.Writer, msgs ...[2][]byte) {
	a.t.Helper()
	out := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafkago.Message{Key: m[0], Value: m[1]}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, out...); err != nil {
		a.t.Fatalf("producing: %v", err)
	}
}

func kv(k, v []byte) [2][]byte { return [2][]byte{k, v} }

// wsClient is a real websocket client of /v1/stream.
// alertCount is how many alerts GET /v1/alerts lists for user.
func (a *testApp) alertCount(user string) int {
	var got struct{ Alerts []any }
	a.do("GET", "/v1/alerts", token(user), nil, http.StatusOK, &got)
	return len(got.Alerts)
}

// pending returns a frame the client has received and not yet taken, or
// the end of its stream (a nil frame); ok is false when there is neither.
func (c *wsClient) pending() (f map[string]any, ok bool) {
	select {
	case f = <-c.frames:
		return f, true
	default:
		return nil, false
	}
}

type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan map[string]any
	hello  map[string]any
	// err is why the stream ended, once frames is closed.
	err error
}

func (a *testApp) connect(user string) *wsClient {
	a.t.Helper()
	return dialStream(a.t, a.HTTPAddr(), user)
}

// dialStream opens /v1/stream at addr as user and reads its frames into a
// channel large enough that the test never holds the socket back.
func dialStream(t *testing.T, addr, user string) *wsClient {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token(user)}}
	var conn *websocket.Conn
	var err error
	var resp *http.Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A server process may still be starting: retry the dial.
		conn, resp, err = websocket.DefaultDialer.Dial("ws://"+addr+"/v1/stream", h)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dialing stream as %s: %v (%v)", user, err, resp)
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan map[string]any, 1<<17)}
	go func() {
		defer close(c.frames)
		for {
			var f map[string]any
			if err := conn.ReadJSON(&f); err != nil {
				c.err = err
				return
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { conn.Close() })
	c.hello = c.next(5 * time.Second)
	if c.hello["op"] != "hello" || c.hello["user"] != user {
		t.Fatalf("first frame for %s = %v, want hello", user, c.hello)
	}
	return c
}

// frameGiveUp is how long next waits for a frame before it fails the test.
// On a busy machine (test suites and compilers on two cores) a frame
// expected within a second has taken more than two; that is not what these
// tests are about. Latency has its own measure: dowser bench.
const frameGiveUp = 30 * time.Second

// next returns the next frame, expected within (logged when later); it
// fails the test when none comes within frameGiveUp.
func (c *wsClient) next(within time.Duration) map[string]any {
	c.t.Helper()
	start := time.Now()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("websocket closed")
		}
		if took := time.Since(start); took > within {
			c.t.Logf("frame after %v, expected within %v", took, within)
		}
		return f
	case <-time.After(max(within, frameGiveUp)):
		c.t.Fatalf("no frame within %v", max(within, frameGiveUp))
		return nil
	}
}

// nextAlert returns the next alert frame's seq and alert.
func (c *wsClient) nextAlert(within time.Duration) (int64, map[string]any) {
	c.t.Helper()
	f := c.next(within)
	if f["op"] != "alert" {
		c.t.Fatalf("frame = %v, want an alert", f)
	}
	return int64(f["seq"].(float64)), f["alert"].(map[string]any)
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func TestEndToEndAlertReachesOwnersOnly(t *testing.T) {
	app := startApp(t)
	app.seed()
	ana := app.connect("rep-ana")
	jane := app.connect("mkt-jane")
	ben := app.connect("rep-ben")
	omar := app.connect("mkt-omar")

	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
	)
	start := time.Now()
	k, v := pricingView("acme", "c-1", now.Add(-time.Minute))
	app.produce(w, kv(k, v))
	var trigger struct{ ID string }
	_ = json.Unmarshal(v, &trigger)

	seq, alert := ana.nextAlert(2 * time.Second)
	t.Logf("alert reached the owning rep %v after the triggering event was acknowledged", time.Since(start))
	if seq != 1 {
		t.Errorf("rep's first seq = %d, want 1", seq)
	}
	for field, want := range map[string]any{
		"signal_id": "pricing-research", "signal_version": 1.0, "subject": "account:acme", "account_id": "acme",
		"customer_id": "c-1", "priority": "high", "event_id": trigger.ID, "count": 3.0, "message": "acme: pricing viewed 3 times",
	} {
		if alert[field] != want {
			t.Errorf("alert[%q] = %v, want %v", field, alert[field], want)
		}
	}
	if ev, _ := alert["evidence"].([]any); len(ev) != 3 {
		t.Errorf("evidence has %d events, want 3: %v", len(ev), alert["evidence"])
	}
	if id, _ := alert["id"].(string); !strings.HasPrefix(id, "al-") {
		t.Errorf("alert id = %q", id)
	}

	// The content owner hears of it too; the signal owner does not, because
	// the content had an owner.
	_, janes := jane.nextAlert(2 * time.Second)
	if janes["id"] != alert["id"] {
		t.Errorf("marketer got %v, want %v", janes["id"], alert["id"])
	}

	// Ben must not see Acme's alert: the first thing he receives is the
	// alert of his own account, Globex. Omar owns nothing involved (the
	// pricing page has an owner, so the signal's owner is not asked) and
	// must receive nothing at all.
	app.produce(w,
		kv(pricingView("globex", "g-1", now.Add(-3*time.Minute))),
		kv(pricingView("globex", "g-1", now.Add(-2*time.Minute))),
		kv(pricingView("globex", "g-2", now.Add(-time.Minute))),
	)
	_, bens := ben.nextAlert(2 * time.Second)
	if bens["account_id"] != "globex" {
		t.Errorf("rep-ben's first alert is for %v, want globex only", bens["account_id"])
	}
	_, janes2 := jane.nextAlert(2 * time.Second)
	if janes2["account_id"] != "globex" {
		t.Errorf("jane's second alert is for %v, want globex", janes2["account_id"])
	}
	if n := app.alertCount("mkt-omar"); n != 0 {
		t.Errorf("mkt-omar was addressed %d alerts, want 0", n)
	}
	if f, ok := omar.pending(); ok {
		t.Errorf("mkt-omar received %v", f)
	}
	var anas struct {
		Alerts []struct{ Alert map[string]any }
	}
	app.do("GET", "/v1/alerts", token("rep-ana"), nil, http.StatusOK, &anas)
	if len(anas.Alerts) != 1 || anas.Alerts[0].Alert["account_id"] != "acme" {
		t.Errorf("rep-ana's alert list = %v, want only acme's alert", anas.Alerts)
	}
	var all struct{ Alerts []any }
	app.do("GET", "/v1/alerts", adminToken, nil, http.StatusOK, &all)
	if len(all.Alerts) != 2 {
		t.Errorf("admin sees %d alerts, want 2", len(all.Alerts))
	}

	// The operators' view of the same story.
	resp, err := http.Get("http://" + app.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`dowser_alerts_fired_total{priority="high",signal="pricing-research"} 2`,
		"dowser_events_consumed_total", "dowser_consumer_lag{", "dowser_event_processing_seconds_count",
		"dowser_delivery_latency_seconds_count", "dowser_websocket_connections 4", "dowser_postgres_pool_total_conns",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestEndToEndResumeDeliversMissedAlertsOnce(t *testing.T) {
	app := startApp(t)
	app.seed()
	jane := app.connect("mkt-jane")
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-5*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-4*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-3*time.Minute))),
	)
	seq, _ := ana.nextAlert(2 * time.Second)
	jane.nextAlert(2 * time.Second)
	if seq != 1 {
		t.Fatalf("first seq = %d, want 1", seq)
	}
	ana.conn.Close()

	// Two alerts while Ana is away. Jane, still connected, proves they are
	// stored before Ana comes back.
	app.produce(w,
		kv(pricingView("acme", "c-3", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
	)
	jane.nextAlert(2 * time.Second)
	jane.nextAlert(2 * time.Second)

	ana = app.connect("rep-ana")
	if got := ana.hello["last_seq"]; got != 3.0 {
		t.Errorf("hello last_seq = %v, want 3", got)
	}
	ana.send(map[string]any{"op": "resume", "after": 1})
	var got []int64
	for range 2 {
		s, _ := ana.nextAlert(2 * time.Second)
		got = append(got, s)
	}
	// One more live alert after the replay: it must come once, as seq 4.
	app.produce(w, kv(pricingView("acme", "c-2", now)))
	s, _ := ana.nextAlert(2 * time.Second)
	got = append(got, s)
	if want := []int64{2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("seqs after resume = %v, want %v", got, want)
	}
	// Acknowledging works on a resumed alert; an alert of someone else's
	// is refused.
	var listed struct {
		Alerts []struct {
			Seq   int64
			Alert struct{ ID string }
		}
	}
	app.do("GET", "/v1/alerts?limit=1", token("rep-ana"), nil, http.StatusOK, &listed)
	if len(listed.Alerts) != 1 || listed.Alerts[0].Seq != 4 {
		t.Fatalf("newest listed = %+v, want seq 4", listed.Alerts)
	}
	ana.send(map[string]any{"op": "ack", "id": listed.Alerts[0].Alert.ID})
	if f := ana.next(2 * time.Second); f["op"] != "acked" || f["id"] != listed.Alerts[0].Alert.ID {
		t.Errorf("ack answer = %v", f)
	}
	ana.send(map[string]any{"op": "ack", "id": "al-not-hers"})
	if f := ana.next(2 * time.Second); f["op"] != "error" {
		t.Errorf("ack of an unknown alert answered %v, want an error", f)
	}
}

func TestEndToEndMalformedMessageGoesToDeadLetterTopic(t *testing.T) {
	app := startApp(t)
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	bad := []byte(`{"id": "evt-bad", "type": "page_view", "time": "yesterday"`)
	missing := []byte(`{"id":"evt-nocustomer","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{}}`)
	// A member twice: encoding/json would take the last account.
	twice := []byte(`{"id":"evt-twice","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c-9","account_id":"acme","Account_ID":"globex"}}`)
	app.produce(w,
		kv([]byte("acme"), bad),
		kv([]byte("acme"), missing),
		kv([]byte("acme"), twice),
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
	)
	// The partition kept flowing past the bad messages.
	if _, a := ana.nextAlert(2 * time.Second); a["account_id"] != "acme" {
		t.Errorf("alert = %v", a)
	}

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: app.Brokers(), Topic: kafka.DLQTopic("dowser.events"), GroupID: "test-dlq",
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]string{}
	for len(got) < 3 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("reading dead-letter topic (have %v): %v", got, err)
		}
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		got[string(m.Value)] = headers[kafka.HeaderReason] + " | " + headers[kafka.HeaderError]
	}
	if r := got[string(bad)]; !strings.HasPrefix(r, "not_json | ") {
		t.Errorf("truncated JSON dead-lettered with %q, want reason not_json", r)
	}
	if r := got[string(missing)]; !strings.HasPrefix(r, "missing_field | ") || !strings.Contains(r, "customer.id") {
		t.Errorf("event without customer dead-lettered with %q, want missing_field naming customer.id", r)
	}
	if r := got[string(twice)]; !strings.HasPrefix(r, "bad_field | ") || !strings.Contains(r, "customer.account_id") {
		t.Errorf("event with a member twice dead-lettered with %q, want bad_field naming customer.account_id", r)
	}
}

func TestEndToEndSignalChangesGoLiveWithoutLosingState(t *testing.T) {
	// The default poll interval: the promise is "live within 2 s".
	app := startApp(t, func(c *serveConfig) { c.SignalsPoll = time.Second })
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	// Two of the three pricing views pricing-research needs...
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-5*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-4*time.Minute))),
	)
	// ...then another signal is added, and pricing-research is untouched.
	var stored struct{ Version int }
	app.do("PUT", "/v1/signals/form-fill", token("mkt-jane"), `
id: form-fill
owner: mkt-jane
when:
  threshold:
    match: {type: form_submit}
    count: 1
    within: 1d
`, http.StatusOK, &stored)
	took := app.awaitSignals(2*time.Second, func(sigs []*detector.Signal) bool {
		return slices.ContainsFunc(sigs, func(s *detector.Signal) bool { return s.ID == "form-fill" })
	})
	t.Logf("new signal live after %v", took)
	// The third view fires: the state of the unchanged signal survived.
	app.produce(w, kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))))
	if _, a := ana.nextAlert(2 * time.Second); a["signal_id"] != "pricing-research" || a["count"] != 3.0 {
		t.Fatalf("alert = %v, want pricing-research counting 3", a)
	}

	// Disabled, it stops firing; the form signal, still on, proves the
	// events after it were processed.
	app.do("POST", "/v1/signals/pricing-research/disable", token("mkt-jane"), nil, http.StatusOK, nil)
	app.awaitSignals(2*time.Second, func(sigs []*detector.Signal) bool {
		return !slices.ContainsFunc(sigs, func(s *detector.Signal) bool { return s.ID == "pricing-research" })
	})
	form := fmt.Sprintf(`{"id":"evt-form-1","type":"form_submit","time":%q,"customer":{"id":"c-1","account_id":"acme"}}`, now.UTC().Format(time.RFC3339))
	app.produce(w, kv(pricingView("acme", "c-1", now.Add(-2*time.Minute))), kv([]byte("acme"), []byte(form)))
	if _, a := ana.nextAlert(2 * time.Second); a["signal_id"] != "form-fill" {
		t.Fatalf("alert = %v, want form-fill only (pricing-research is disabled)", a)
	}
	var hist struct {
		Changes []struct {
			Action    string `json:"action"`
			ChangedBy string `json:"changed_by"`
		}
	}
	app.do("GET", "/v1/signals/pricing-research/history", token("rep-ana"), nil, http.StatusOK, &hist)
	if n := len(hist.Changes); n != 2 || hist.Changes[1].Action != "disabled" || hist.Changes[1].ChangedBy != "mkt-jane" {
		t.Errorf("history = %+v, want saved then disabled by mkt-jane", hist.Changes)
	}
}

// awaitSplit waits until the apps own disjoint, non-empty sets of
// partitions that together cover all n, and returns each app's set.
func awaitSplit(t *testing.T, n int, apps ...*testApp) [][]int {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		var sets [][]int
		var changed []<-chan struct{}
		seen := map[int]bool{}
		ok := true
		for _, a := range apps {
			as := a.consumer.Assignment()
			changed = append(changed, as.Changed)
			sets = append(sets, as.Partitions)
			if len(as.Partitions) == 0 {
				ok = false
			}
			for _, p := range as.Partitions {
				if seen[p] {
					ok = false
				}
				seen[p] = true
			}
		}
		if ok && len(seen) == n {
			return sets
		}
		select {
		case <-changed[0]:
		case <-changed[1]:
		case <-timeout:
			t.Fatalf("partitions never split between the instances: %v", sets)
		}
	}
}

// partitionOf is the partition kafka-go's Hash balancer picks for key.
func partitionOf(key string, n int) int {
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	return (&kafkago.Hash{}).Balance(kafkago.Message{Key: []byte(key)}, parts...)
}

func TestEndToEndAlertDetectedOnOneInstanceReachesSocketOnAnother(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	db := pgtest.URL(t)
	shared := func(c *serveConfig) {
		c.KafkaBrokers = b.Addr()
		c.DatabaseURL = db
	}
	appA := startApp(t, shared)
	appA.seed()
	appB := startApp(t, shared)
	sets := awaitSplit(t, 3, appA, appB)

	// Pick an account whose partition instance A owns; the rep listens on B.
	account := ""
	for i := 0; account == ""; i++ {
		k := fmt.Sprintf("acct-%d", i)
		if slices.Contains(sets[0], partitionOf(k, 3)) {
			account = k
		}
	}
	appA.do("PUT", "/v1/accounts/"+account, adminToken, map[string]string{"name": account, "owner": "rep-ana"}, http.StatusOK, nil)
	ana := appB.connect("rep-ana")
	w := appA.writer()
	now := time.Now()
	start := time.Now()
	app := appA
	app.produce(w,
		kv(pricingView(account, "c-1", now.Add(-3*time.Minute))),
		kv(pricingView(account, "c-2", now.Add(-2*time.Minute))),
		kv(pricingView(account, "c-1", now.Add(-time.Minute))),
	)
	_, alert := ana.nextAlert(time.Second)
	t.Logf("detected on A (partitions %v), received on B (partitions %v) %v after produce", sets[0], sets[1], time.Since(start))
	if alert["account_id"] != account {
		t.Errorf("alert = %v", alert)
	}
}

// testLogLevel is warn, or DOWSER_TEST_LOG_LEVEL when debugging a test.
func testLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("DOWSER_TEST_LOG_LEVEL"))); err != nil {
		return slog.LevelWarn
	}
	return l
}

func TestEndToEndEventsPostedOverHTTP(t *testing.T) {
	app := startApp(t)
	app.seed()
	app.do("PUT", "/v1/users/tracker", adminToken, map[string]string{"name": "Web tracker", "role": "source", "token": token("tracker")}, http.StatusOK, nil)
	ana := app.connect("rep-ana")
	now := time.Now()
	var batch []json.RawMessage
	for i, c := range []string{"c-1", "c-2", "c-1"} {
		_, v := pricingView("acme", c, now.Add(time.Duration(i-3)*time.Minute))
		batch = append(batch, v)
	}
	// One bad event rejects the whole batch, naming it by index.
	// Its valid events are views of their own: had they gone through, the
	// alert below would count more than three.
	var bad []json.RawMessage
	for i := range 3 {
		_, v := pricingView("acme", "c-9", now.Add(time.Duration(i-10)*time.Minute))
		bad = append(bad, v)
	}
	bad = append(bad, json.RawMessage(`{"id":"x","type":"page_view","time":"soon","customer":{"id":"c"}}`))
	var problem struct {
		Error    string
		Problems []struct {
			Index         int
			Reason, Field string
		}
	}
	app.do("POST", "/v1/events", token("tracker"), bad, http.StatusUnprocessableEntity, &problem)
	if len(problem.Problems) != 1 || problem.Problems[0].Index != 3 || problem.Problems[0].Field != "time" {
		t.Errorf("problems = %+v, want event 3's time", problem)
	}
	var accepted struct{ Accepted int }
	app.do("POST", "/v1/events", token("tracker"), map[string]any{"events": batch}, http.StatusAccepted, &accepted)
	if accepted.Accepted != 3 {
		t.Errorf("accepted %d, want 3", accepted.Accepted)
	}
	var last struct{ ID string }
	_ = json.Unmarshal(batch[2], &last)
	_, alert := ana.nextAlert(2 * time.Second)
	if alert["count"] != 3.0 || alert["event_id"] != last.ID {
		t.Errorf("alert = %v: want it fired by %s counting the three accepted views, none of the rejected batch", alert, last.ID)
	}
}

func TestEndToEndDoNotTrackDropsEventsBeforeAnyState(t *testing.T) {
	app := startApp(t)
	app.seed()
	ana := app.connect("rep-ana")
	app.do("PUT", "/v1/do-not-track/account/acme", adminToken, nil, http.StatusNoContent, nil)
	app.do("PUT", "/v1/accounts/initech", adminToken, map[string]string{"name": "Initech", "owner": "rep-ana"}, http.StatusOK, nil)
	// The list reaches the detectors within a poll; wait for it there.
	deadline := time.Now().Add(5 * time.Second)
	for !app.pipe.DoNotTrack(dowser.DNTAccount, "acme") {
		if time.Now().After(deadline) {
			t.Fatal("do-not-track list not loaded within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
		kv(pricingView("initech", "i-1", now.Add(-3*time.Minute))),
		kv(pricingView("initech", "i-1", now.Add(-2*time.Minute))),
		kv(pricingView("initech", "i-2", now.Add(-time.Minute))),
	)
	_, a := ana.nextAlert(2 * time.Second)
	if a["account_id"] != "initech" {
		t.Fatalf("first alert is for %v: acme is do-not-track", a["account_id"])
	}
	// Tracking acme again must not resurrect the dropped views: no state was kept.
	app.do("DELETE", "/v1/do-not-track/account/acme", adminToken, nil, http.StatusNoContent, nil)
	deadline = time.Now().Add(5 * time.Second)
	for app.pipe.DoNotTrack(dowser.DNTAccount, "acme") {
		if time.Now().After(deadline) {
			t.Fatal("do-not-track list not reloaded within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	app.produce(w, kv(pricingView("acme", "c-3", now)))
	app.produce(w,
		kv(pricingView("initech", "i-3", now.Add(time.Second))),
		kv(pricingView("initech", "i-3", now.Add(2*time.Second))),
		kv(pricingView("initech", "i-3", now.Add(3*time.Second))),
	)
	_, b := ana.nextAlert(2 * time.Second)
	if b["account_id"] != "initech" {
		t.Errorf("acme fired on one view after tracking resumed (%v): its dropped views were kept", b)
	}
}

func TestEndToEndErasureRemovesThePersonEverywhere(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.CheckpointEvery = 100 * time.Millisecond })
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	const person = "c-erase-me"
	// The person browses anonymously, identifies, and helps fire an alert.
	anon := fmt.Sprintf(`{"id":"evt-anon-1","type":"page_view","time":%q,"customer":{"anonymous_id":"anon-erase-me","account_id":"acme"},"properties":{"url":"https://example.com/pricing"}}`,
		now.Add(-5*time.Minute).UTC().Format(time.RFC3339))
	ident := fmt.Sprintf(`{"id":"evt-ident-1","type":"identify","time":%q,"customer":{"id":%q,"anonymous_id":"anon-erase-me","account_id":"acme"}}`,
		now.Add(-4*time.Minute).UTC().Format(time.RFC3339), person)
	app.produce(w, kv([]byte("acme"), []byte(anon)), kv([]byte("acme"), []byte(ident)),
		kv(pricingView("acme", person, now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))))
	if _, a := ana.nextAlert(2 * time.Second); a["account_id"] != "acme" {
		t.Fatalf("alert = %v", a)
	}

	var erased struct {
		Erasure       int64
		AlertsDeleted int64 `json:"alerts_deleted"`
	}
	app.do("DELETE", "/v1/customers/"+person, adminToken, nil, http.StatusAccepted, &erased)
	if erased.AlertsDeleted != 1 {
		t.Errorf("alerts deleted = %d, want 1", erased.AlertsDeleted)
	}
	if n := app.alertCount("rep-ana"); n != 0 {
		t.Errorf("rep still sees %d alerts about the erased person", n)
	}

	// Every partition's checkpoint applies it and holds no trace of the
	// person; then the queued id itself leaves the database.
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cps, err := app.store.Checkpoints.CheckpointStates(ctx, "dowser", "dowser.events")
		if err != nil {
			t.Fatal(err)
		}
		clean := len(cps) > 0
		for _, cp := range cps {
			if cp.ErasureSeq < erased.Erasure {
				clean = false
			}
			err := app.store.Checkpoints.LoadCheckpointRows(ctx, cp.ID, func(key string, data []byte) error {
				for _, trace := range []string{person, "anon-erase-me"} {
					if strings.Contains(key, trace) || bytes.Contains(data, []byte(trace)) {
						clean = false
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		pending, err := app.store.Privacy.ErasuresAfter(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if clean && len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: checkpoints clean %v, erasures still queued %d", clean, len(pending))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var audit struct {
		Erasures []struct {
			Erasure       int64
			SubjectSHA256 string `json:"subject_sha256"`
			RequestedBy   string `json:"requested_by"`
			Pending       bool
		}
	}
	app.do("GET", "/v1/erasures", adminToken, nil, http.StatusOK, &audit)
	if len(audit.Erasures) != 1 || audit.Erasures[0].RequestedBy != "admin" || audit.Erasures[0].Pending || len(audit.Erasures[0].SubjectSHA256) != 64 {
		t.Errorf("audit = %+v", audit.Erasures)
	}

	// In memory too: the account's windows that held the person's views
	// are gone, so one more colleague's view does not fire; a fresh three do,
	// with no trace of the person in the evidence.
	app.produce(w, kv(pricingView("acme", "c-2", now.Add(-time.Minute))))
	app.produce(w,
		kv(pricingView("acme", "c-3", now.Add(time.Second))),
		kv(pricingView("acme", "c-3", now.Add(2*time.Second))),
	)
	_, a := ana.nextAlert(2 * time.Second)
	body, _ := json.Marshal(a)
	if a["count"] != 3.0 || bytes.Contains(body, []byte(person)) || bytes.Contains(body, []byte("anon-erase-me")) {
		t.Errorf("alert after erasure = %s: want a count of 3 from the colleagues alone", body)
	}
}

func TestEndToEndPreviewBacktestsOverRecentHistory(t *testing.T) {
	app := startApp(t)
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
		kv(pricingView("globex", "g-1", now.Add(-time.Minute))),
	)
	ana.nextAlert(2 * time.Second) // the events are in; the live signal fired
	// Would "two views" have fired, and how often? Nothing is saved.
	var preview struct {
		Events, Alerts int64
		ByRep          map[string]int64  `json:"by_rep"`
		RepNames       map[string]string `json:"rep_names"`
		AccountNames   map[string]string `json:"account_names"`
		Samples        []struct{ Subject, Signal string }
	}
	app.do("PUT", "/v1/users/rep-ana", adminToken, map[string]string{"name": "Ana Ruiz", "role": "rep"}, http.StatusOK, nil)
	app.do("POST", "/v1/signals/preview?since=1h", token("mkt-jane"), `
id: two-views
owner: mkt-jane
scope: account
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 2
    within: 1h
cooldown: 1d
`, http.StatusOK, &preview)
	if preview.Events != 4 || preview.Alerts != 1 || preview.ByRep["rep-ana"] != 1 || len(preview.Samples) != 1 || preview.Samples[0].Subject != "account:acme" {
		t.Errorf("preview = %+v, want 4 events and one alert for acme, rep-ana's", preview)
	}
	if preview.RepNames["rep-ana"] != "Ana Ruiz" || preview.AccountNames["acme"] != "Acme" {
		t.Errorf("preview names reps %v and accounts %v, want rep-ana as Ana Ruiz and acme as Acme", preview.RepNames, preview.AccountNames)
	}
	app.do("GET", "/v1/signals/two-views", token("mkt-jane"), nil, http.StatusNotFound, nil)
	var bad struct{ Problems []struct{ Path string } }
	app.do("POST", "/v1/signals/preview", token("mkt-jane"), "id: x\nowner: y\nwhen: {threshold: {match: {type: page_view}, count: 2, within: 7x}}\n", http.StatusUnprocessableEntity, &bad)
	if len(bad.Problems) == 0 || bad.Problems[0].Path != "when.threshold.within" {
		t.Errorf("invalid preview problems = %+v", bad.Problems)
	}
}
