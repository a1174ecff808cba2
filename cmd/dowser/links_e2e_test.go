package main

import (
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	netmail "net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/links"
)

const testLinkKey = "test-link-key-0123456789abcdef0123456789"

// slackInbox is a Slack-style incoming webhook on 127.0.0.1 that hands
// over each message it receives.
func slackInbox(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 16)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- b:
		default:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/slack", got
}

// link requests a one-click link's path on the app (the link names the
// public URL, which is a proxy's in production) and returns the status
// and page.
func (a *testApp) link(method, link string) (int, string) {
	a.t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		a.t.Fatal(err)
	}
	req, err := http.NewRequest(method, "http://"+a.HTTPAddr()+u.Path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (a *testApp) ackedAlerts(user string) int {
	a.t.Helper()
	var page struct{ Alerts []dowser.ListedAlert }
	a.do("GET", "/v1/alerts?state=acked", token(user), nil, http.StatusOK, &page)
	return len(page.Alerts)
}

// TestEndToEndOneClickLinkFromSlackAcksOnce follows the acknowledge link
// of a Slack message as a rep would: a GET (what a link scanner does too)
// only asks, the POST acknowledges and the API shows the alert acked; the
// link then refuses a second use, and forged, expired or someone else's
// links are refused without acting.
func TestEndToEndOneClickLinkFromSlackAcksOnce(t *testing.T) {
	hook, inbox := slackInbox(t)
	app := startApp(t, func(c *serveConfig) {
		c.PublicURL = "https://dowser.example.com/"
		c.LinkKey = testLinkKey
	})
	app.seed()
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "slack", "target": hook}, http.StatusCreated, nil)
	w := app.writer()
	now := time.Now()
	for i := range 3 {
		app.produce(w, kv(pricingView("acme", "c1", now.Add(time.Duration(i)*time.Second))))
	}
	var msg struct {
		Blocks []struct {
			Type     string
			Elements []struct {
				ActionID string `json:"action_id"`
				URL      string
			}
		}
	}
	select {
	case b := <-inbox:
		if err := json.Unmarshal(b, &msg); err != nil {
			t.Fatalf("decoding the Slack message %s: %v", b, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no Slack message within 60 s")
	}
	buttons := map[string]string{}
	for _, b := range msg.Blocks {
		for _, e := range b.Elements {
			action, _, _ := strings.Cut(e.ActionID, "-")
			buttons[action] = e.URL
		}
	}
	ack := buttons[string(dowser.LinkAck)]
	for _, a := range dowser.LinkActions() {
		if !strings.HasPrefix(buttons[string(a)], "https://dowser.example.com/"+links.Path) {
			t.Fatalf("Slack buttons %v: want a %s link under the public URL", buttons, a)
		}
	}
	if app.ackedAlerts("rep-ana") != 0 {
		t.Fatal("the alert is acked before any link was used")
	}

	// A GET only asks: scanners that fetch links act on nothing.
	status, page := app.link("GET", ack)
	if status != http.StatusOK || !strings.Contains(page, `<form method="post">`) {
		t.Fatalf("GET of the ack link: %d %s; want 200 and a confirmation form", status, page)
	}
	if n := app.ackedAlerts("rep-ana"); n != 0 {
		t.Fatalf("after a GET of the ack link %d alerts acked, want 0", n)
	}

	// Someone else's link for ana's alert, forged or expired links: refused,
	// nothing done.
	u, _ := url.Parse(ack)
	tok := strings.TrimPrefix(u.Path, "/"+links.Path)
	l, err := mustSigner(t, time.Now()).Check(tok)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mustSigner(t, time.Now()).URL(dowser.LinkAck, l.AlertID, "rep-ben")
	expired, _ := mustSigner(t, time.Now().Add(-8*24*time.Hour)).URL(dowser.LinkAck, l.AlertID, "rep-ana")
	payload, sig, _ := strings.Cut(tok, ".")
	wrongKey, _ := links.New(links.Config{Key: []byte("another-key-0123456789abcdef0123456789"), BaseURL: "https://dowser.example.com/"})
	byStranger, _ := wrongKey.URL(dowser.LinkAck, l.AlertID, "rep-ana")
	for _, tc := range []struct {
		name, link string
		status     int
		says       string
	}{
		{"ben's link", other, http.StatusNotFound, "No such alert"},
		{"expired", expired, http.StatusGone, "expired"},
		{"signature changed", "https://dowser.example.com/" + links.Path + payload + "." + flip(sig), http.StatusForbidden, "not valid"},
		{"another key", byStranger, http.StatusForbidden, "not valid"},
	} {
		if status, page := app.link("POST", tc.link); status != tc.status || !strings.Contains(page, tc.says) {
			t.Errorf("%s: POST %d %s; want %d saying %q", tc.name, status, page, tc.status, tc.says)
		}
	}
	if n := app.ackedAlerts("rep-ana"); n != 0 {
		t.Fatalf("refused links acked %d alerts", n)
	}

	// The POST acts, once.
	if status, page := app.link("POST", ack); status != http.StatusOK || !strings.Contains(page, "acknowledged") {
		t.Fatalf("POST of the ack link: %d %s; want 200, acknowledged", status, page)
	}
	if n := app.ackedAlerts("rep-ana"); n != 1 {
		t.Fatalf("after the ack link %d alerts acked, want 1", n)
	}
	for _, method := range []string{"POST", "GET"} {
		if status, page := app.link(method, ack); status != http.StatusConflict || !strings.Contains(page, "used already") {
			t.Errorf("the ack link replayed (%s): %d %s; want 409, used already", method, status, page)
		}
	}
	// Another link of the same message works on its own.
	if status, _ := app.link("POST", buttons[string(dowser.LinkUseful)]); status != http.StatusOK {
		t.Errorf("the useful link after the ack: %d, want 200", status)
	}
	var page2 struct{ Alerts []dowser.ListedAlert }
	app.do("GET", "/v1/alerts", token("rep-ana"), nil, http.StatusOK, &page2)
	if len(page2.Alerts) != 1 || page2.Alerts[0].Verdict != dowser.VerdictUseful || !page2.Alerts[0].Acked {
		t.Errorf("alerts %+v: want one, acked, judged useful", page2.Alerts)
	}
	// The snooze link puts it away for 4 hours.
	if status, page := app.link("POST", buttons[string(dowser.LinkSnooze)]); status != http.StatusOK || !strings.Contains(page, "snoozed") {
		t.Fatalf("the snooze link: %d %s; want 200, snoozed", status, page)
	}
	var snoozed struct{ Alerts []dowser.ListedAlert }
	app.do("GET", "/v1/alerts?state=snoozed", token("rep-ana"), nil, http.StatusOK, &snoozed)
	if len(snoozed.Alerts) != 1 || snoozed.Alerts[0].SnoozedUntil == nil ||
		snoozed.Alerts[0].SnoozedUntil.Sub(time.Now()) < 3*time.Hour || snoozed.Alerts[0].SnoozedUntil.Sub(time.Now()) > 5*time.Hour {
		t.Errorf("snoozed alerts %+v: want the alert, snoozed about 4 hours", snoozed.Alerts)
	}
}

func mustSigner(t *testing.T, now time.Time) *links.Signer {
	t.Helper()
	s, err := links.New(links.Config{Key: []byte(testLinkKey), BaseURL: "https://dowser.example.com/", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flip changes the first character of s.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// TestEndToEndDigestIsMailedAtTheUsersTimeAndItsLinkActs sets digest times
// over the API, moves the digest clock to the user's next time, and
// follows the acknowledge link of the digest a real SMTP server received.
func TestEndToEndDigestIsMailedAtTheUsersTimeAndItsLinkActs(t *testing.T) {
	mb, smtpAddr := startMailbox(t)
	clk := &testClock{t: time.Now()}
	app := startApp(t, func(c *serveConfig) {
		c.DeliveryBackoff = 50 * time.Millisecond
		c.DeliveryBackoffMax = 200 * time.Millisecond
		c.SMTPAddr, c.SMTPFrom = smtpAddr, "dowser@example.com"
		c.PublicURL = "https://dowser.example.com/"
		c.LinkKey = testLinkKey
		c.digestNow, c.digestPoll = clk.Now, 50*time.Millisecond
	})
	app.seed()
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "email", "target": "ana@example.com",
		"digest_times": []string{"09:00"}, "time_zone": "Mars/Olympus"}, http.StatusBadRequest, nil)
	var ch dowser.Channel
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "email", "target": "ana@example.com",
		"digest_times": []string{"09:00"}, "time_zone": "Europe/Madrid"}, http.StatusCreated, &ch)
	if len(ch.DigestTimes) != 1 || ch.TimeZone != "Europe/Madrid" {
		t.Fatalf("channel %+v: want its digest time and zone back", ch)
	}
	w := app.writer()
	now := time.Now()
	for i := range 3 {
		app.produce(w, kv(pricingView("acme", "c1", now.Add(time.Duration(i)*time.Second))))
	}
	awaitCond(t, 60*time.Second, "the high alert stored", func() bool {
		var page struct{ Alerts []dowser.ListedAlert }
		app.do("GET", "/v1/alerts", token("rep-ana"), nil, http.StatusOK, &page)
		return len(page.Alerts) == 1
	})
	mb.mu.Lock()
	early := len(mb.messages)
	mb.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d mails before the digest time; the high alert waits for the digest", early)
	}

	madrid, _ := time.LoadLocation("Europe/Madrid")
	local := time.Now().In(madrid)
	at := time.Date(local.Year(), local.Month(), local.Day(), 9, 0, 0, 0, madrid)
	if !at.After(time.Now()) {
		at = time.Date(local.Year(), local.Month(), local.Day()+1, 9, 0, 0, 0, madrid)
	}
	clk.Set(at)
	deadline := time.After(60 * time.Second)
	var digest *netmail.Message
	for digest == nil {
		mb.mu.Lock()
		if len(mb.messages) > 0 {
			digest = mb.messages[0]
		}
		mb.mu.Unlock()
		if digest != nil {
			break
		}
		select {
		case <-mb.changed:
		case <-deadline:
			t.Fatal("no digest within 60 s of the user's time")
		}
	}
	raw, _ := io.ReadAll(quotedprintable.NewReader(digest.Body))
	body := string(raw)
	subject, _ := new(mime.WordDecoder).DecodeHeader(digest.Header.Get("Subject"))
	if subject != "Dowser digest: 1 alert" || !strings.Contains(body, "acme: pricing viewed 3 times") {
		t.Fatalf("digest %q:\n%s\nwant one alert, the pricing research", subject, body)
	}
	var ack string
	for _, line := range strings.Split(body, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), dowser.LinkAck.Label()+": "); ok {
			ack = u
		}
	}
	if status, page := app.link("POST", ack); status != http.StatusOK {
		t.Fatalf("POST of the digest's ack link %q: %d %s", ack, status, page)
	}
	if n := app.ackedAlerts("rep-ana"); n != 1 {
		t.Errorf("after the digest's ack link %d alerts acked, want 1", n)
	}
}
