package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dowserhq/dowser/schema"
)

// A card already on a manager's panel says, live, that the alert escalated
// to them once their rep left it unacknowledged past its follow-up time.
func TestBrowserPanelShowsEscalation(t *testing.T) {
	clock := &testClock{t: time.Now()}
	app := startApp(t, func(c *serveConfig) {
		c.FollowUp = "high=15m"
		c.FollowUpPoll = 50 * time.Millisecond
		c.followUpClock = clock.Now
	})
	app.seed()
	// The panel's user, rep-ana, becomes Ben's manager.
	app.do("PUT", "/v1/users/rep-ana", adminToken, map[string]string{"name": "Ana Ruiz", "role": "manager"}, http.StatusOK, nil)
	app.do("PUT", "/v1/managers/rep-ana/subscriptions/rep-ben", adminToken, nil, http.StatusNoContent, nil)
	al := &schema.Alert{
		ID: "al-esc", SignalID: "pricing-research", SignalVersion: 1, SignalName: "Pricing research",
		Subject: "account:globex", CustomerID: "c-1", AccountID: "globex", Priority: schema.PriorityHigh,
		Message: "globex: pricing viewed 3 times", Count: 3, EventID: "evt-esc", Time: time.Now(), Rep: "rep-ben",
	}
	if _, err := app.store.Alerts.SaveAlert(context.Background(), al, []string{"rep-ana", "rep-ben"}); err != nil {
		t.Fatal(err)
	}
	ctx, step := panelSteps(t, app, "/")
	var before bool
	step("reading the card before its follow-up time",
		chromedp.WaitVisible(`#alerts li.alert[data-id="al-esc"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#alerts li.alert[data-id="al-esc"] .escalated') !== null`, &before),
	)
	if before {
		t.Error("the card says escalated before anything escalated")
	}

	clock.Set(clock.Now().Add(16 * time.Minute))
	var text string
	step("waiting for the escalation on the card",
		chromedp.WaitVisible(`#alerts li.alert[data-id="al-esc"] .escalated`, chromedp.ByQuery),
		chromedp.Text(`#alerts li.alert[data-id="al-esc"] .escalated`, &text, chromedp.ByQuery),
	)
	if !strings.HasPrefix(text, "rep-ana at ") {
		t.Errorf("the card says escalated to %q, want rep-ana at a time", text)
	}
	var cards int
	step("counting the cards", chromedp.Evaluate(`document.querySelectorAll('#alerts li.alert[data-id="al-esc"]').length`, &cards))
	if cards != 1 {
		t.Errorf("%d cards of the alert, want the one updated", cards)
	}
	screenshot(t, ctx, "panel-escalated")
}
