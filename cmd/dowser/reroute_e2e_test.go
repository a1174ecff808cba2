package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// acmeAlert seeds the app and fires one pricing-research alert for acme,
// whose evidence is the pricing page (owned by mkt-jane); it returns once
// mkt-jane has it, so it is stored.
func acmeAlert(t *testing.T, app *testApp) map[string]any {
	t.Helper()
	app.seed()
	jane := app.connect("mkt-jane")
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
	)
	_, alert := jane.nextAlert(5 * time.Second)
	return alert
}

// POST /v1/content/{id}/impact lists the recent alerts whose marketing
// recipients a change would alter, checks the body as PUT does, and saves
// nothing.
func TestEndToEndContentImpactPreviewsReroutes(t *testing.T) {
	app := startApp(t)
	alert := acmeAlert(t, app)
	var impact struct {
		ContentID      string `json:"content_id"`
		AlertsExamined int    `json:"alerts_examined"`
		Rerouted       int
		Alerts         []struct {
			ID            string
			Before, After []string
		}
		Gain, Lose []string
	}
	app.do("POST", "/v1/content/pricing-page/impact", token("mkt-jane"),
		map[string]string{"url_prefix": "https://example.com/pricing", "owner": "mkt-omar"}, http.StatusOK, &impact)
	if impact.ContentID != "pricing-page" || impact.AlertsExamined != 1 || impact.Rerouted != 1 || len(impact.Alerts) != 1 ||
		impact.Alerts[0].ID != alert["id"] || strings.Join(impact.Alerts[0].Before, ",") != "mkt-jane" || strings.Join(impact.Alerts[0].After, ",") != "mkt-omar" ||
		strings.Join(impact.Gain, ",") != "mkt-omar" || strings.Join(impact.Lose, ",") != "mkt-jane" {
		t.Errorf("impact = %+v, want acme's alert moving from mkt-jane to mkt-omar", impact)
	}
	// Nothing was saved.
	var c struct{ Owner string }
	app.do("GET", "/v1/content/pricing-page", token("mkt-jane"), nil, http.StatusOK, &c)
	if c.Owner != "mkt-jane" {
		t.Errorf("the preview saved the owner %q", c.Owner)
	}
	// An unchanged item reroutes nothing; a new catch-all for a rep is
	// refused exactly as PUT refuses it.
	app.do("POST", "/v1/content/pricing-page/impact", token("mkt-jane"),
		map[string]string{"url_prefix": "https://example.com/pricing", "owner": "mkt-jane"}, http.StatusOK, &impact)
	if impact.Rerouted != 0 || len(impact.Alerts) != 0 {
		t.Errorf("unchanged item: impact = %+v, want nothing rerouted", impact)
	}
	app.do("POST", "/v1/content/x/impact", token("mkt-omar"), map[string]string{"url_prefix": "https://", "owner": "rep-ben"}, http.StatusBadRequest, nil)
	app.do("POST", "/v1/content/x/impact", token("rep-ana"), map[string]string{"owner": "mkt-jane"}, http.StatusForbidden, nil)
}

// In the console, saving a content item whose change would reroute alerts
// first shows whose, and saves only when asked again.
func TestBrowserConsoleShowsReroutesBeforeSavingContent(t *testing.T) {
	app := startApp(t)
	acmeAlert(t, app)
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "reroute-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("logging in and looking up the pricing page",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/console.html"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("mkt-jane"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#content-id`, chromedp.ByID),
		chromedp.SendKeys(`#content-id`, "pricing-page", chromedp.ByID),
		chromedp.Click(`#content-lookup`, chromedp.ByID),
		chromedp.WaitVisible(`#content-owner`, chromedp.ByID),
		chromedp.Poll(`document.getElementById('content-owner').value === 'mkt-jane'`, nil),
	)
	var summary, item string
	step("changing the owner and asking to save",
		chromedp.Evaluate(`document.getElementById('content-owner').value = ''`, nil),
		chromedp.SendKeys(`#content-owner`, "mkt-omar", chromedp.ByID),
		chromedp.SendKeys(`#content-talk`, "Ask about seats.", chromedp.ByID),
		chromedp.Click(`#content-save`, chromedp.ByID),
		chromedp.WaitVisible(`#content-impact li[data-alert]`, chromedp.ByQuery),
		chromedp.Text(`#content-impact .impact-summary`, &summary, chromedp.ByQuery),
		chromedp.Text(`#content-impact li[data-alert]`, &item, chromedp.ByQuery),
	)
	if !strings.Contains(summary, "reroute 1 of the last 1 alerts") || !strings.Contains(summary, "mkt-omar would start") || !strings.Contains(summary, "mkt-jane would stop") {
		t.Errorf("impact summary = %q", summary)
	}
	if !strings.Contains(item, "pricing-research") || !strings.Contains(item, "mkt-jane → mkt-omar") {
		t.Errorf("rerouted alert = %q", item)
	}
	var c struct {
		Owner        string
		TalkingPoint string `json:"talking_point"`
	}
	app.do("GET", "/v1/content/pricing-page", token("mkt-jane"), nil, http.StatusOK, &c)
	if c.Owner != "mkt-jane" {
		t.Fatalf("saved before the user confirmed: owner %q", c.Owner)
	}
	step("confirming",
		chromedp.Click(`#content-save`, chromedp.ByID),
		chromedp.Poll(`document.getElementById('content-status').textContent === 'Saved pricing-page.'`, nil),
	)
	app.do("GET", "/v1/content/pricing-page", token("mkt-jane"), nil, http.StatusOK, &c)
	if c.Owner != "mkt-omar" || c.TalkingPoint != "Ask about seats." {
		t.Errorf("after confirming, owner = %q and talking point %q, want mkt-omar and the one typed", c.Owner, c.TalkingPoint)
	}
}
