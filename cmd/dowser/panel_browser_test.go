package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dowserhq/dowser/schema"
)

// panelSteps logs rep-ana into the panel at path and returns a step
// runner: each step waits for what the page shows, and gives up only
// after a bound a busy machine does not reach.
func panelSteps(t *testing.T, app *testApp, path string) (context.Context, func(what string, actions ...chromedp.Action)) {
	t.Helper()
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("logging in",
		chromedp.Navigate("http://"+app.HTTPAddr()+path),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("rep-ana"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitReady(`#alerts[aria-busy="false"]`, chromedp.ByQuery),
	)
	return ctx, step
}

// storeAlerts stores n alerts about account for rep-ana, as the event path
// stores them (names filled in), oldest first, a minute apart before now.
func (a *testApp) storeAlerts(prefix, account, signal string, n int) {
	a.t.Helper()
	now := time.Now()
	for i := range n {
		al := &schema.Alert{
			ID: fmt.Sprintf("al-%s-%d", prefix, i), SignalID: signal, SignalVersion: 1, SignalName: "Pricing research",
			Subject: "account:" + account, CustomerID: "c-" + account + "-1", AccountID: account, Priority: schema.PriorityHigh,
			Message: fmt.Sprintf("%s alert %d", prefix, i), Count: 3, EventID: fmt.Sprintf("evt-%s-%d", prefix, i),
			Time: now.Add(time.Duration(i-n) * time.Minute), Rep: "rep-ana",
		}
		if _, err := a.store.Alerts.SaveAlert(context.Background(), al, []string{"rep-ana"}); err != nil {
			a.t.Fatal(err)
		}
	}
}

// visibleCards counts the cards shown.
const visibleCards = `document.querySelectorAll('#alerts li.alert:not([hidden])').length`

func TestBrowserPanelShowsNamesAndAVerdictAcknowledgesAtOnce(t *testing.T) {
	app := startApp(t, func(c *serveConfig) {
		c.CRMAccountURL = "https://crm.example.com/accounts/{{.AccountID}}"
	})
	app.seed()
	app.do("PUT", "/v1/users/rep-ana", adminToken, map[string]string{"name": "Ana Ruiz", "role": "rep"}, http.StatusOK, nil)
	app.do("PUT", "/v1/accounts/acme", adminToken, map[string]string{"name": "Acme Freight", "owner": "rep-ana", "lifecycle": "prospect"}, http.StatusOK, nil)
	app.storeAlerts("named", "acme", "pricing-research", 2)
	ctx, step := panelSteps(t, app, "/")

	var account, accountTitle, href, rep, repTitle, count string
	var ok bool
	step("reading the newest card",
		chromedp.WaitVisible(`#alerts li.alert[data-id="al-named-1"] .account-name`, chromedp.ByQuery),
		chromedp.Text(`#alerts li.alert[data-id="al-named-1"] .account-name`, &account, chromedp.ByQuery),
		chromedp.AttributeValue(`#alerts li.alert[data-id="al-named-1"] .account-name`, "title", &accountTitle, &ok, chromedp.ByQuery),
		chromedp.AttributeValue(`#alerts li.alert[data-id="al-named-1"] .account-name`, "href", &href, &ok, chromedp.ByQuery),
		chromedp.Text(`#alerts li.alert[data-id="al-named-1"] .rep-name`, &rep, chromedp.ByQuery),
		chromedp.AttributeValue(`#alerts li.alert[data-id="al-named-1"] .rep-name`, "title", &repTitle, &ok, chromedp.ByQuery),
		chromedp.AttributeValue(`#unacked`, "data-count", &count, &ok, chromedp.ByQuery),
	)
	if account != "Acme Freight" || !strings.Contains(accountTitle, "acme") {
		t.Errorf("account shown as %q (title %q), want Acme Freight with its id on hover", account, accountTitle)
	}
	if href != "https://crm.example.com/accounts/acme" {
		t.Errorf("account links to %q, want the CRM's record", href)
	}
	if rep != "Ana Ruiz" || !strings.Contains(repTitle, "rep-ana") {
		t.Errorf("rep shown as %q (title %q), want Ana Ruiz with rep-ana on hover", rep, repTitle)
	}
	if count != "2" {
		t.Errorf("header counts %s unacknowledged, want 2", count)
	}
	screenshot(t, ctx, "panel-names")

	// A verdict acknowledges: the card and the header say so at once,
	// without a reload.
	step("judging the newest alert useful",
		chromedp.Click(`#alerts li.alert[data-id="al-named-1"] button.fb[data-verdict="useful"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#alerts li.alert[data-id="al-named-1"] button.ack[aria-disabled="true"]`, chromedp.ByQuery),
		chromedp.WaitReady(`#unacked[data-count="1"]`, chromedp.ByQuery),
	)
	var label string
	step("reading the ack button", chromedp.Text(`#alerts li.alert[data-id="al-named-1"] button.ack`, &label, chromedp.ByQuery))
	if !strings.Contains(label, "Acknowledged") {
		t.Errorf("after a verdict the ack button says %q, want Acknowledged", label)
	}
	// An acknowledgement on the rep's other panel shows here too, at
	// once: the card's button and the header's count.
	other := app.connect("rep-ana")
	other.send(map[string]any{"op": "ack", "id": "al-named-0"})
	for f := other.next(30 * time.Second); f["op"] != "acked"; f = other.next(30 * time.Second) {
		if f["op"] == "error" {
			t.Fatalf("the other panel's ack: %v", f)
		}
	}
	step("seeing the other panel's acknowledgement",
		chromedp.WaitVisible(`#alerts li.alert[data-id="al-named-0"] button.ack[aria-disabled="true"]`, chromedp.ByQuery),
		chromedp.WaitReady(`#unacked[data-count="0"]`, chromedp.ByQuery),
	)
	// And the server stored both.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var listed struct {
			Alerts []struct {
				Acked   bool
				Verdict string
			}
		}
		app.do("GET", "/v1/alerts?state=verdict", token("rep-ana"), nil, http.StatusOK, &listed)
		if len(listed.Alerts) == 1 && listed.Alerts[0].Acked && listed.Alerts[0].Verdict == "useful" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verdict not stored: %+v", listed)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBrowserPanelPagesBackFiltersAndSnoozes(t *testing.T) {
	app := startApp(t)
	app.seed()
	app.storeAlerts("acme", "acme", "pricing-research", 5)
	app.storeAlerts("globex", "globex", "pricing-research", 2) // the newest
	ctx, step := panelSteps(t, app, "/?page_size=3")

	var n int
	step("waiting for the first page",
		chromedp.Poll(visibleCards+` === 3`, nil),
		chromedp.WaitVisible(`#load-more`, chromedp.ByID),
		chromedp.Evaluate(visibleCards, &n),
	)
	if n != 3 {
		t.Fatalf("first page shows %d cards, want 3", n)
	}
	step("loading older alerts", chromedp.Click(`#load-more`, chromedp.ByID), chromedp.Poll(visibleCards+` === 6`, nil))
	step("loading the oldest", chromedp.Click(`#load-more`, chromedp.ByID), chromedp.Poll(visibleCards+` === 7`, nil),
		chromedp.WaitNotVisible(`#load-more`, chromedp.ByID))
	var oldest string
	step("reading the last card", chromedp.AttributeValue(`#alerts li.alert:last-child`, "data-id", &oldest, nil, chromedp.ByQuery))
	if oldest != "al-acme-0" {
		t.Errorf("the last card is %s, want the oldest alert al-acme-0", oldest)
	}
	screenshot(t, ctx, "panel-paged")

	// The account filter takes the account's name, and asks the server.
	step("filtering by account",
		chromedp.SendKeys(`#f-account`, "Globex\n", chromedp.ByID),
		chromedp.Poll(visibleCards+` === 2`, nil),
		chromedp.WaitReady(`#alerts[aria-busy="false"]`, chromedp.ByQuery),
	)
	var ids []string
	step("reading the filtered cards", chromedp.Evaluate(`[...document.querySelectorAll('#alerts li.alert:not([hidden])')].map((li) => li.dataset.id)`, &ids))
	if len(ids) != 2 || !strings.HasPrefix(ids[0], "al-globex-") || !strings.HasPrefix(ids[1], "al-globex-") {
		t.Errorf("filtered by Globex the panel shows %v, want Globex's two alerts", ids)
	}
	screenshot(t, ctx, "panel-filtered")

	// Snoozing hides the card at once; the server lists it as snoozed.
	step("snoozing one",
		chromedp.Click(`#alerts li.alert[data-id="al-globex-1"] .snooze > summary`, chromedp.ByQuery),
		chromedp.Click(`#alerts li.alert[data-id="al-globex-1"] button[data-action="snooze"][data-for="hour"]`, chromedp.ByQuery),
		chromedp.Poll(visibleCards+` === 1`, nil),
	)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var listed struct {
			Alerts []struct{ Alert struct{ ID string } }
		}
		app.do("GET", "/v1/alerts?state=snoozed", token("rep-ana"), nil, http.StatusOK, &listed)
		if len(listed.Alerts) == 1 && listed.Alerts[0].Alert.ID == "al-globex-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snooze not stored: %+v", listed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The Snoozed state shows it, with a way to wake it.
	step("showing snoozed alerts",
		chromedp.SetValue(`#f-state`, "snoozed", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('f-state').dispatchEvent(new Event('change', {bubbles: true}))`, nil),
		chromedp.Poll(visibleCards+` === 1 && !!document.querySelector('#alerts li.alert[data-id="al-globex-1"]:not([hidden]) button.wake:not([hidden])')`, nil),
	)
	step("waking it",
		chromedp.Click(`#alerts li.alert[data-id="al-globex-1"] button.wake`, chromedp.ByQuery),
		chromedp.Poll(visibleCards+` === 0`, nil),
		chromedp.WaitVisible(`#no-match`, chromedp.ByID),
	)
	step("clearing the filters",
		chromedp.Click(`#f-clear`, chromedp.ByID),
		chromedp.Poll(visibleCards+` === 3`, nil),
	)
}

// The account filter finds an account by a part of its name even when
// none of its alerts is loaded: the server searches (account_q), and
// pages under the filter.
func TestBrowserPanelFindsAnAccountNotLoadedByName(t *testing.T) {
	app := startApp(t)
	app.seed()
	app.do("PUT", "/v1/accounts/north-freight", adminToken, map[string]string{"name": "North Freight Lines", "owner": "rep-ana", "lifecycle": "prospect"}, http.StatusOK, nil)
	app.storeAlerts("north", "north-freight", "pricing-research", 3) // the oldest
	app.storeAlerts("acme", "acme", "pricing-research", 4)
	ctx, step := panelSteps(t, app, "/?page_size=2")

	var loaded []string
	step("waiting for the first page",
		chromedp.Poll(visibleCards+` === 2`, nil),
		chromedp.Evaluate(`[...document.querySelectorAll('#alerts li.alert')].map((li) => li.dataset.id)`, &loaded),
	)
	for _, id := range loaded {
		if strings.HasPrefix(id, "al-north-") {
			t.Fatalf("the first page has %v, want none of North Freight Lines' alerts loaded yet", loaded)
		}
	}
	cards := `[...document.querySelectorAll('#alerts li.alert:not([hidden])')].map((li) => li.dataset.id)`
	var ids []string
	step("filtering by a part of its name",
		chromedp.SendKeys(`#f-account`, "freight LINES\n", chromedp.ByID),
		chromedp.Poll(visibleCards+` === 2 && !!document.querySelector('#alerts li.alert[data-id="al-north-2"]')`, nil),
		chromedp.WaitReady(`#alerts[aria-busy="false"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#load-more`, chromedp.ByID),
		chromedp.Click(`#load-more`, chromedp.ByID),
		chromedp.Poll(visibleCards+` === 3`, nil),
		chromedp.WaitNotVisible(`#load-more`, chromedp.ByID),
		chromedp.Evaluate(cards, &ids),
	)
	if strings.Join(ids, ",") != "al-north-2,al-north-1,al-north-0" {
		t.Errorf("filtered by %q the panel shows %v, want North Freight Lines' three alerts, newest first", "freight LINES", ids)
	}
	screenshot(t, ctx, "panel-account-search")
	// The filter is kept as typed, and a reload lists under it again.
	step("reloading",
		chromedp.Reload(),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.Poll(visibleCards+` === 2 && !!document.querySelector('#alerts li.alert[data-id="al-north-2"]') && document.getElementById('f-account').value === 'freight LINES'`, nil),
	)
}
