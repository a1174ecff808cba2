package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/delivery"
)

// receiver is a real HTTP receiver of channel deliveries on 127.0.0.1: it
// verifies webhook signatures against the secrets it is told, and counts
// the requests by path, alert and delivery id. answer decides each
// request's fate (a status, or 0 to hang until the sender gives up).
type receiver struct {
	t    *testing.T
	addr string

	mu      sync.Mutex
	secrets map[string][]string // path → secrets that must each verify
	answer  func(path string, n int) int
	// requests counts requests per path; ids the delivery ids seen per
	// path and alert, with how many requests carried each.
	requests map[string]int
	ids      map[string]map[string]map[string]int
	bad      []string
	changed  chan struct{}
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, addr: ln.Addr().String(), secrets: map[string][]string{}, requests: map[string]int{},
		ids: map[string]map[string]map[string]int{}, changed: make(chan struct{}, 1),
		answer: func(string, int) int { return http.StatusOK }}
	srv := &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return rc
}

func (rc *receiver) url(path string) string { return "http://" + rc.addr + path }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	id := r.Header.Get(delivery.HeaderDeliveryID)
	// The alert's id, from any of the three payloads.
	var alertID string
	var wh delivery.Webhook
	if json.Unmarshal(body, &wh) == nil && wh.Type == "alert" {
		var a struct{ ID string }
		_ = json.Unmarshal(wh.Alert, &a)
		alertID = a.ID
		if wh.DeliveryID != id {
			rc.fail("%s: body names delivery %q, header %q", r.URL.Path, wh.DeliveryID, id)
		}
	} else if i := strings.Index(string(body), `"open-`); i >= 0 {
		// Slack's button action_id, Teams' action id.
		alertID = strings.SplitN(string(body)[i+len(`"open-`):], `"`, 2)[0]
	} else if strings.Contains(string(body), `"blocks"`) || strings.Contains(string(body), "AdaptiveCard") {
		alertID = "chat" // no panel link configured: the message names no id
	}
	rc.mu.Lock()
	secrets := rc.secrets[r.URL.Path]
	rc.requests[r.URL.Path]++
	n := rc.requests[r.URL.Path]
	answer := rc.answer(r.URL.Path, n)
	rc.mu.Unlock()
	for _, s := range secrets {
		if err := delivery.Verify(r.Header.Get(delivery.HeaderSignature), body, s, time.Now(), 5*time.Minute); err != nil {
			rc.fail("%s: delivery %s: signature %q does not verify with one of the secrets: %v", r.URL.Path, id, r.Header.Get(delivery.HeaderSignature), err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	if id == "" || alertID == "" {
		rc.fail("%s: request without a delivery id (%q) or an alert (%s)", r.URL.Path, id, body)
	}
	if answer == 0 {
		<-r.Context().Done() // hang until the sender gives up
		return
	}
	w.WriteHeader(answer)
	if answer/100 != 2 {
		return
	}
	rc.mu.Lock()
	byAlert := rc.ids[r.URL.Path]
	if byAlert == nil {
		byAlert = map[string]map[string]int{}
		rc.ids[r.URL.Path] = byAlert
	}
	if byAlert[alertID] == nil {
		byAlert[alertID] = map[string]int{}
	}
	byAlert[alertID][id]++
	rc.mu.Unlock()
	select {
	case rc.changed <- struct{}{}:
	default:
	}
}

func (rc *receiver) fail(format string, args ...any) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bad = append(rc.bad, fmt.Sprintf(format, args...))
}

// accepted returns, per alert, the delivery ids path accepted and how
// often each.
func (rc *receiver) accepted(path string) map[string]map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]map[string]int{}
	for a, ids := range rc.ids[path] {
		out[a] = map[string]int{}
		for id, n := range ids {
			out[a][id] = n
		}
	}
	return out
}

// await waits until cond holds, re-checking whenever the receiver
// accepts a request and at least every 100 ms (for states only the API
// shows).
func (rc *receiver) await(within time.Duration, what string, cond func() bool) {
	rc.t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-rc.changed:
		case <-tick.C:
		case <-deadline:
			rc.t.Fatalf("%s: not within %v", what, within)
		}
	}
}

func (rc *receiver) checkSignatures() {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, b := range rc.bad {
		rc.t.Error(b)
	}
}

func (a *testApp) channel(user string, id int64) dowser.Channel {
	a.t.Helper()
	var c dowser.Channel
	a.do("GET", fmt.Sprintf("/v1/channels/%d", id), token(user), nil, http.StatusOK, &c)
	return c
}

func TestEndToEndChannelDeliveriesRetrySucceedFailAndPause(t *testing.T) {
	rc := startReceiver(t)
	app := startApp(t, func(c *serveConfig) {
		c.DeliveryTimeout = 500 * time.Millisecond
		c.DeliveryBackoff = 50 * time.Millisecond
		c.DeliveryBackoffMax = 200 * time.Millisecond
		c.DeliveryAttempts = 20
		c.DeliveryPauseAfter = 3
		c.PublicURL = "https://dowser.example.com/"
	})
	app.seed()

	const secret, newSecret = "ana-webhook-secret-0123", "ana-webhook-secret-4567"
	var hook, bad, slack, teams dowser.Channel
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "webhook", "target": rc.url("/hook"), "secret": secret}, http.StatusCreated, &hook)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "webhook", "target": rc.url("/bad"), "secret": secret}, http.StatusCreated, &bad)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "slack", "target": rc.url("/slack")}, http.StatusCreated, &slack)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "teams", "target": rc.url("/teams")}, http.StatusCreated, &teams)
	// Refusals name what is wrong; another user cannot see ana's channel.
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "webhook", "target": rc.url("/x")}, http.StatusBadRequest, nil)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "pager", "target": rc.url("/x")}, http.StatusBadRequest, nil)
	app.do("GET", fmt.Sprintf("/v1/channels/%d", hook.ID), token("rep-ben"), nil, http.StatusNotFound, nil)
	// An admin sets a channel up for a user, who then sees it as theirs;
	// nobody else may.
	var forBen dowser.Channel
	app.do("POST", "/v1/users/rep-ben/channels", adminToken, map[string]any{"kind": "teams", "target": rc.url("/ben"), "enabled": false}, http.StatusCreated, &forBen)
	var bens struct{ Channels []dowser.Channel }
	app.do("GET", "/v1/channels", token("rep-ben"), nil, http.StatusOK, &bens)
	if len(bens.Channels) != 1 || bens.Channels[0].ID != forBen.ID || bens.Channels[0].Enabled {
		t.Errorf("rep-ben's channels %+v, want the disabled one the admin added (%d)", bens.Channels, forBen.ID)
	}
	app.do("POST", "/v1/users/rep-ben/channels", token("rep-ana"), map[string]any{"kind": "teams", "target": rc.url("/ben")}, http.StatusForbidden, nil)
	app.do("GET", "/v1/users/nobody/channels", adminToken, nil, http.StatusNotFound, nil)

	rc.mu.Lock()
	rc.secrets["/hook"] = []string{secret}
	// The webhook fails for a while: 500, a hang past the timeout, 500,
	// a hang; then it accepts. The bad receiver refuses for good.
	rc.answer = func(path string, n int) int {
		switch {
		case path == "/hook" && n <= 4:
			return []int{500, 0, 500, 0}[n-1]
		case path == "/bad":
			return http.StatusBadRequest
		}
		return http.StatusOK
	}
	rc.mu.Unlock()

	// Five pricing views: the third, fourth and fifth fire (cooldown 0).
	w := app.writer()
	now := time.Now()
	for i := range 5 {
		app.produce(w, kv(pricingView("acme", "c1", now.Add(time.Duration(i)*time.Second))))
	}
	const alerts = 3
	rc.await(60*time.Second, "three alerts accepted on each good channel", func() bool {
		return len(rc.accepted("/hook")) == alerts && len(rc.accepted("/slack")) == alerts && len(rc.accepted("/teams")) == alerts
	})
	for _, path := range []string{"/hook", "/slack", "/teams"} {
		for alert, ids := range rc.accepted(path) {
			if len(ids) != 1 {
				t.Errorf("%s: alert %s accepted under %d delivery ids %v, want 1", path, alert, len(ids), ids)
			}
		}
	}
	rc.mu.Lock()
	hookRequests := rc.requests["/hook"]
	rc.mu.Unlock()
	if hookRequests < alerts+4 {
		t.Errorf("/hook got %d requests, want at least %d (4 failed attempts retried)", hookRequests, alerts+4)
	}

	// The refusing channel: every delivery failed after one attempt, the
	// third in a row paused the channel, and the API says so.
	rc.await(30*time.Second, "the bad channel paused", func() bool { return app.channel("rep-ana", bad.ID).PausedAt != nil })
	got := app.channel("rep-ana", bad.ID)
	if got.Failed != alerts || got.Sent != 0 || !strings.Contains(got.PauseReason, "HTTP 400") {
		t.Errorf("bad channel: %+v; want %d failed, none sent, paused for HTTP 400", got, alerts)
	}
	var failed struct{ Deliveries []dowser.ChannelDelivery }
	app.do("GET", fmt.Sprintf("/v1/channels/%d/deliveries?status=failed", bad.ID), token("rep-ana"), nil, http.StatusOK, &failed)
	if len(failed.Deliveries) != alerts {
		t.Fatalf("failed deliveries of the bad channel: %+v, want %d", failed.Deliveries, alerts)
	}
	for _, d := range failed.Deliveries {
		if d.Attempts != 1 || d.LastStatus != 400 || d.DoneAt == nil {
			t.Errorf("failed delivery %+v: want 1 attempt, last status 400, done", d)
		}
	}
	// Acceptance is recorded just after the receiver answered.
	awaitCond(t, 30*time.Second, "the webhook's deliveries recorded as sent", func() bool { return app.channel("rep-ana", hook.ID).Sent == alerts })
	if got := app.channel("rep-ana", hook.ID); got.Sent != alerts || got.Failed != 0 || got.Pending != 0 || got.PausedAt != nil {
		t.Errorf("webhook channel: %+v; want %d sent, none failed or pending, not paused", got, alerts)
	}

	// A rotation: both secrets sign until the old one is retired.
	app.do("PUT", fmt.Sprintf("/v1/channels/%d", hook.ID), token("rep-ana"), map[string]any{"target": rc.url("/hook"), "secret": newSecret}, http.StatusOK, &hook)
	if !hook.Rotating {
		t.Errorf("after a new secret the channel is not rotating: %+v", hook)
	}
	rc.mu.Lock()
	rc.secrets["/hook"] = []string{secret, newSecret}
	rc.mu.Unlock()
	app.produce(w, kv(pricingView("acme", "c1", now.Add(6*time.Second))))
	rc.await(30*time.Second, "the fourth alert accepted, signed with both secrets", func() bool {
		return len(rc.accepted("/hook")) == alerts+1 && len(rc.accepted("/slack")) == alerts+1 && len(rc.accepted("/teams")) == alerts+1
	})

	// Metrics per channel kind; a delivery is counted once its acceptance
	// is recorded, just after the receiver answered.
	var metrics []byte
	awaitCond(t, 30*time.Second, "the fourth webhook delivery counted", func() bool {
		resp, err := http.Get("http://" + app.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		metrics, _ = io.ReadAll(resp.Body)
		return strings.Contains(string(metrics), `dowser_channel_deliveries_sent_total{kind="webhook"} 4`) &&
			strings.Contains(string(metrics), `dowser_channel_deliveries_sent_total{kind="slack"} 4`) &&
			strings.Contains(string(metrics), `dowser_channel_deliveries_sent_total{kind="teams"} 4`)
	})
	for _, want := range []string{
		`dowser_channel_deliveries_sent_total{kind="webhook"} 4`,
		`dowser_channel_deliveries_sent_total{kind="slack"} 4`,
		`dowser_channel_deliveries_sent_total{kind="teams"} 4`,
		`dowser_channel_deliveries_failed_total{kind="webhook"} 3`,
		`dowser_channels_paused_total{kind="webhook"} 1`,
		`dowser_channel_delivery_latency_seconds_count{kind="webhook"} 4`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(string(metrics), `dowser_channel_delivery_retries_total{kind="webhook"} 4`) {
		t.Errorf("/metrics does not count the 4 retried attempts of the webhook")
	}
	rc.checkSignatures()
}

// mailbox is a real SMTP server (go-smtp) on 127.0.0.1 that keeps what it
// accepts; its first DATA is refused with a transient 451, and RCPT to
// nobody@example.com with a permanent 550.
type mailbox struct {
	mu       sync.Mutex
	messages []*netmail.Message
	datas    int
	changed  chan struct{}
}

func startMailbox(t *testing.T) (*mailbox, string) {
	t.Helper()
	mb := &mailbox{changed: make(chan struct{}, 1)}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return mb, ln.Addr().String()
}

type mailSession struct{ mb *mailbox }

func (s *mailSession) Reset()                                 {}
func (s *mailSession) Logout() error                          { return nil }
func (s *mailSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if to == "nobody@example.com" {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	m, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(m.Body)
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	s.mb.datas++
	if s.mb.datas == 1 {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m.Body = strings.NewReader(string(body))
	s.mb.messages = append(s.mb.messages, m)
	select {
	case s.mb.changed <- struct{}{}:
	default:
	}
	return nil
}

func TestEndToEndUrgentAlertIsMailed(t *testing.T) {
	mb, smtpAddr := startMailbox(t)
	app := startApp(t, func(c *serveConfig) {
		c.DeliveryBackoff = 50 * time.Millisecond
		c.DeliveryBackoffMax = 200 * time.Millisecond
		c.SMTPAddr, c.SMTPFrom = smtpAddr, "dowser@example.com"
		c.PublicURL = "https://dowser.example.com/"
	})
	app.seed()
	// The seeded signal is high; this one fires on the same views, urgent.
	app.putSignal("pricing-urgent", `
id: pricing-urgent
name: Pricing, urgent
owner: mkt-omar
audience: prospect
scope: account
priority: urgent
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 1h
cooldown: 1h
message: "{{.Account}}: buying now"
`)
	var mail, nobody dowser.Channel
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "email", "target": "ana@example.com"}, http.StatusCreated, &mail)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "email", "target": "nobody@example.com"}, http.StatusCreated, &nobody)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "email", "target": "Ana <ana@example.com>\r\nBcc: x@evil.test"}, http.StatusBadRequest, nil)

	w := app.writer()
	now := time.Now()
	for i := range 3 {
		app.produce(w, kv(pricingView("acme", "c1", now.Add(time.Duration(i)*time.Second))))
	}
	deadline := time.After(60 * time.Second)
	for {
		mb.mu.Lock()
		n := len(mb.messages)
		mb.mu.Unlock()
		if n >= 1 {
			break
		}
		select {
		case <-mb.changed:
		case <-deadline:
			t.Fatal("no mail within 60 s")
		}
	}
	// The refused recipient's delivery fails; by then the urgent mail is
	// the only one, after one transient refusal.
	var failed struct{ Deliveries []dowser.ChannelDelivery }
	awaitCond(t, 30*time.Second, "the mail to nobody failed", func() bool {
		app.do("GET", fmt.Sprintf("/v1/channels/%d/deliveries?status=failed", nobody.ID), token("rep-ana"), nil, http.StatusOK, &failed)
		return len(failed.Deliveries) == 1
	})
	if d := failed.Deliveries[0]; !strings.Contains(d.LastError, "550") || d.Attempts != 1 {
		t.Errorf("failed mail delivery %+v: want one attempt, refused with 550", d)
	}
	var sent struct{ Deliveries []dowser.ChannelDelivery }
	awaitCond(t, 30*time.Second, "the mail recorded as sent", func() bool {
		app.do("GET", fmt.Sprintf("/v1/channels/%d/deliveries?status=sent", mail.ID), token("rep-ana"), nil, http.StatusOK, &sent)
		return len(sent.Deliveries) > 0
	})
	app.do("GET", fmt.Sprintf("/v1/channels/%d/deliveries", mail.ID), token("rep-ana"), nil, http.StatusOK, &sent)
	if len(sent.Deliveries) != 1 || sent.Deliveries[0].Status != dowser.DeliverySent || sent.Deliveries[0].Attempts != 2 {
		t.Fatalf("mail deliveries %+v: want one (the urgent alert only), sent at the second attempt", sent.Deliveries)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if len(mb.messages) != 1 {
		t.Fatalf("%d mails accepted, want 1 (the high alert is not mailed)", len(mb.messages))
	}
	m := mb.messages[0]
	body, _ := io.ReadAll(m.Body)
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if m.Header.Get("To") != "ana@example.com" || !strings.HasPrefix(subject, "[URGENT] Pricing, urgent") ||
		m.Header.Get("Message-Id") != "<"+sent.Deliveries[0].ID+"@dowser>" || m.Header.Get(delivery.HeaderDeliveryID) != sent.Deliveries[0].ID {
		t.Errorf("mail headers %v (subject %q), want to ana, [URGENT] subject, ids of delivery %s", m.Header, subject, sent.Deliveries[0].ID)
	}
	if !strings.Contains(string(body), "acme: buying now") || !strings.Contains(string(body), "https://dowser.example.com/") {
		t.Errorf("mail body %q lacks the message or the panel link", body)
	}
}

// awaitCond polls cond (a REST read) until it holds.
func awaitCond(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(100 * time.Millisecond) // a state only the API shows
	}
}

// By default (--delivery-blocked-nets private) no delivery reaches an
// address inside the network, here the receiver on 127.0.0.1, even by a
// name: each fails at its first attempt, saying why, and the receiver gets
// nothing. (The other delivery tests, with no network blocked, reach it.)
func TestEndToEndDeliveriesToBlockedNetworksFail(t *testing.T) {
	rc := startReceiver(t)
	var fs flag.FlagSet
	var defaults serveConfig
	defaults.register(&fs)
	app := startApp(t, func(c *serveConfig) {
		c.DeliveryBlockedNets = defaults.DeliveryBlockedNets
		c.DeliveryBackoff = 50 * time.Millisecond
	})
	app.seed()
	port := rc.addr[strings.LastIndex(rc.addr, ":"):]
	var byAddr, byName dowser.Channel
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "slack", "target": rc.url("/inside")}, http.StatusCreated, &byAddr)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "slack", "target": "http://localhost" + port + "/inside"}, http.StatusCreated, &byName)
	w := app.writer()
	now := time.Now()
	for i := range 3 {
		app.produce(w, kv(pricingView("acme", "c1", now.Add(time.Duration(i)*time.Second))))
	}
	for _, ch := range []dowser.Channel{byAddr, byName} {
		awaitCond(t, 60*time.Second, "the blocked channel's delivery failed", func() bool { return app.channel("rep-ana", ch.ID).Failed >= 1 })
		var failed struct{ Deliveries []dowser.ChannelDelivery }
		app.do("GET", fmt.Sprintf("/v1/channels/%d/deliveries?status=failed", ch.ID), token("rep-ana"), nil, http.StatusOK, &failed)
		if len(failed.Deliveries) == 0 || failed.Deliveries[0].Attempts != 1 || !strings.Contains(failed.Deliveries[0].LastError, "blocked network") {
			t.Errorf("channel %s: failed deliveries %+v; want one attempt, refused as in a blocked network", ch.Target, failed.Deliveries)
		}
	}
	rc.mu.Lock()
	got := rc.requests["/inside"]
	rc.mu.Unlock()
	if got != 0 {
		t.Errorf("the receiver inside got %d requests, want none", got)
	}
}
