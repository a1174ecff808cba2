package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestEndToEndSlackMessageCarriesTheJourney consumes an account's events
// (titles, content with a talking point, an anonymous visit, the visit of
// a person then marked do-not-track), lets the pricing signal fire, and
// finds the journey summary in the Slack message a receiver on 127.0.0.1
// gets: the items with their day, title, who and talking point, and
// nothing of the person not tracked.
func TestEndToEndSlackMessageCarriesTheJourney(t *testing.T) {
	bodies := make(chan []byte, 16)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- b:
		default:
		}
	}))
	defer slack.Close()
	app := startApp(t, func(c *serveConfig) {
		c.JourneyDays = 30
		c.PublicURL = "https://dowser.example.com/"
	})
	app.seed()
	app.do("PUT", "/v1/content/pricing-page", adminToken, map[string]string{"title": "Pricing", "url_prefix": "https://example.com/pricing",
		"owner": "mkt-jane", "talking_point": "Ask how many seats they plan."}, http.StatusOK, nil)
	app.do("POST", "/v1/channels", token("rep-ana"), map[string]any{"kind": "slack", "target": slack.URL + "/slack"}, http.StatusCreated, nil)

	w := app.writer()
	now := time.Now().UTC()
	at := func(m int) string { return now.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	anon := fmt.Sprintf(`{"id":"jd-anon","type":"page_view","time":%q,"customer":{"anonymous_id":"anon-jd","account_id":"acme"},"properties":{"url":"https://example.com/compare","title":"Compare plans"}}`, at(-9))
	hidden := fmt.Sprintf(`{"id":"jd-hidden","type":"page_view","time":%q,"customer":{"id":"c-hidden","account_id":"acme"},"properties":{"url":"https://example.com/careers","title":"Careers page"}}`, at(-8))
	app.produce(w, kv([]byte("acme"), []byte(anon)), kv([]byte("acme"), []byte(hidden)),
		kv(pricingView("acme", "c-1842", now.Add(-2*time.Minute))), kv(pricingView("acme", "c-1842", now.Add(-time.Minute))))
	// The journey is written a moment after the events: wait for it, so
	// that the alert's message can show them.
	app.awaitTimeline("/v1/accounts/acme/timeline", adminToken, func(p timelineItems) bool { return len(p.Items) >= 4 })
	app.do("PUT", "/v1/do-not-track/customer/c-hidden", adminToken, nil, http.StatusNoContent, nil)
	// The third pricing view fires.
	app.produce(w, kv(pricingView("acme", "c-1842", now)))

	var body []byte
	select {
	case body = <-bodies:
	case <-time.After(60 * time.Second):
		t.Fatal("no Slack message within 60 s")
	}
	var msg struct {
		Blocks []struct {
			Type string
			Text struct{ Text string }
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("decoding the Slack message: %v: %s", err, body)
	}
	var summary string
	for _, b := range msg.Blocks {
		if b.Type == "section" && strings.HasPrefix(b.Text.Text, "*Journey, last 7 days*") {
			summary = b.Text.Text
		}
	}
	day := func(m int) string { return now.Add(time.Duration(m) * time.Minute).Format("Mon 2 Jan 15:04") }
	for _, want := range []string{
		"\n" + day(-1) + " · Pricing · c-1842\n>Talking point: Ask how many seats they plan.",
		"\n" + day(-2) + " · Pricing · c-1842\n>Talking point: Ask how many seats they plan.",
		"\n" + day(-9) + " · Compare plans · anon-jd",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("the Slack message's journey lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "Careers") || strings.Contains(string(body), "c-hidden") {
		t.Errorf("the Slack message shows the visit of a person marked do-not-track:\n%s", body)
	}
}
