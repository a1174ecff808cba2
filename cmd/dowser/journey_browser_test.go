package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserJourneyDrawerAgainstTheDemo runs the demo (seed and traffic)
// through the real service, finds within two minutes an alert whose
// account's journey shows several people and a talking point, logs its rep
// into the panel and opens the drawer from the card: the items, the people
// and a talking point are there. With DOWSER_DOCS_SCREENSHOTS=1 the drawer
// is saved as docs/img/journey.png, the screenshot the docs show.
func TestBrowserJourneyDrawerAgainstTheDemo(t *testing.T) {
	// Without the simulated reps: their acknowledgements redraw the card
	// the test holds the focus of.
	app := startApp(t, func(c *serveConfig) { c.Demo, c.DemoRate, c.JourneyDays, c.demoRepsOff = true, 20, 30, true })
	ctx := browser(t)

	// The first phase of the demo's traffic is a committee of one
	// account's people reading pricing, the comparison and the guides.
	var rep, alertID, account string
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for rep == "" {
		for _, r := range []string{"rep-ana", "rep-ben", "rep-cho"} {
			var list struct {
				Alerts []struct {
					Alert struct {
						ID        string
						AccountID string `json:"account_id"`
					}
				}
			}
			app.do("GET", "/v1/alerts?limit=20", "demo-"+r+"-token", nil, http.StatusOK, &list)
			for _, la := range list.Alerts {
				if la.Alert.AccountID == "" {
					continue
				}
				var p timelineItems
				app.do("GET", "/v1/accounts/"+la.Alert.AccountID+"/timeline?limit=200", "demo-"+r+"-token", nil, http.StatusOK, &p)
				people, talk := map[string]bool{}, false
				for _, it := range p.Items {
					if it.CustomerID != "" {
						people[it.CustomerID] = true
					}
					talk = talk || it.TalkingPoint != ""
				}
				// A fuller journey makes a better picture; a minute in, two
				// people will do.
				if len(people) >= 2 && talk && (len(p.Items) >= 6 || time.Since(start) > time.Minute) {
					rep, alertID, account = r, la.Alert.ID, la.Alert.AccountID
					break
				}
			}
			if rep != "" {
				break
			}
		}
		if rep == "" {
			if time.Now().After(deadline) {
				t.Fatal("no alert with a journey of several people and a talking point within 2 minutes of the demo's start")
			}
			time.Sleep(time.Second) // the demo's traffic runs on
		}
	}
	t.Logf("%s's alert %s on %s", rep, alertID, account)

	card := `#alerts li.alert[data-id="` + alertID + `"]`
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "failed")
			var where string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`JSON.stringify({open: document.querySelector('#journey').open, status: document.querySelector('#journey-status').textContent, items: document.querySelectorAll('#journey li.j-item').length, talks: document.querySelectorAll('#journey .j-talk').length, card: !!document.querySelector('`+card+`'), btn: !!document.querySelector('`+card+` button.journey-btn'), active: document.activeElement && document.activeElement.outerHTML.slice(0, 120)})`, &where))
			t.Fatalf("%s: %v; the page: %s", what, err, where)
		}
	}
	step("logging in",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, "demo-"+rep+"-token", chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card, chromedp.ByQuery),
	)
	// Clicked from script: live alerts arriving above the card move it
	// under a positional click on a busy machine.
	clickJourney := chromedp.Evaluate(`document.querySelector('`+card+` button.journey-btn').click()`, nil)
	step("opening the journey from the card",
		chromedp.ScrollIntoView(card+` button.journey-btn`, chromedp.ByQuery),
		clickJourney,
		chromedp.WaitVisible(`#journey li.j-item`, chromedp.ByQuery),
		chromedp.WaitVisible(`#journey .j-talk`, chromedp.ByQuery),
	)
	var title, talk string
	var people []string
	var items int
	step("reading the drawer",
		chromedp.Text(`#journey-title`, &title, chromedp.ByID),
		chromedp.Text(`#journey .j-talk`, &talk, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#journey li.j-item').length`, &items),
		chromedp.Evaluate(`[...new Set([...document.querySelectorAll('#journey .j-person:not(.is-anon)')].map(e => e.textContent))]`, &people),
	)
	if !strings.Contains(title, "journey") || items < 2 || len(people) < 2 || !strings.Contains(talk, "Ask") {
		t.Errorf("drawer: title %q, %d items, people %q, talking point %q; want the account's journey with several people and a talking point", title, items, people, talk)
	}
	// Focus comes back with the dialog's close event, a task after it
	// closed.
	step("closing it with Escape, focus back on the card's Journey button",
		chromedp.KeyEvent("\x1b"),
		chromedp.WaitNotVisible(`#journey`, chromedp.ByID),
		chromedp.Poll(`document.activeElement && document.activeElement.matches('`+card+` button.journey-btn')`, nil, chromedp.WithPollingInterval(50*time.Millisecond)),
	)
	step("opening it again",
		clickJourney,
		chromedp.WaitVisible(`#journey .j-talk`, chromedp.ByQuery),
	)
	// Closed and opened again before the close event ran: the new opening
	// still gets its answer.
	step("closing and opening it again at once",
		chromedp.Evaluate(`document.querySelector('#journey').close(); document.querySelector('`+card+` button.journey-btn').click()`, nil),
		chromedp.WaitVisible(`#journey .j-talk`, chromedp.ByQuery),
	)
	if os.Getenv("DOWSER_DOCS_SCREENSHOTS") != "" {
		var png []byte
		step("taking the screenshot", chromedp.CaptureScreenshot(&png))
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "img", "journey.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		screenshot(t, ctx, "journey")
	}
}
