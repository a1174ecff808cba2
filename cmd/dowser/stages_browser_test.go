package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// A rep accepts one alert's handoff and rejects another's with a reason
// from the panel; the account moves to sales-accepted. A marketer then
// reads the acceptance per signal and per rep in the console, adds a stage
// in the stage editor and saves it as a new version, listed in its
// history.
func TestBrowserStagesHandoffAndEditor(t *testing.T) {
	app := startApp(t)
	app.seed()
	app.do("PUT", "/v1/stages", token("mkt-jane"), map[string]any{
		"stages": []map[string]any{
			{"id": "engaged", "label": "Engaged", "signals": []string{}},
			{"id": "mql", "label": "Marketing-qualified", "signals": []string{"pricing-research"}},
			{"id": "sales-accepted", "label": "Sales-accepted", "signals": []string{}},
			{"id": "opportunity", "label": "Opportunity", "signals": []string{}},
		},
		"accepted_stage": "sales-accepted",
	}, http.StatusOK, nil)
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "stages-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("logging in to the panel",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("rep-ana"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
	)
	// Three views fire; cooldown 0 makes the fourth fire again.
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-4*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-time.Minute))),
	)
	step("waiting for both cards", chromedp.WaitVisible(`#alerts li.alert:nth-of-type(2) .handoff`, chromedp.ByQuery))
	var stage struct{ Stage string }
	app.do("GET", "/v1/accounts/acme/stage", token("rep-ana"), nil, http.StatusOK, &stage)
	if stage.Stage != "mql" {
		t.Fatalf("acme's stage after the alerts = %q, want mql", stage.Stage)
	}

	first := `#alerts li.alert:nth-of-type(1) .handoff`
	second := `#alerts li.alert:nth-of-type(2) .handoff`
	var accepted string
	step("accepting the newest handoff",
		chromedp.Click(first+` button.handoff-accept`, chromedp.ByQuery),
		chromedp.WaitVisible(first+`[data-decision="accept"]`, chromedp.ByQuery),
		chromedp.Text(first+` .handoff-status`, &accepted, chromedp.ByQuery),
	)
	if !strings.Contains(accepted, "sales-accepted") {
		t.Errorf("the accepted card says %q, want the account sales-accepted", accepted)
	}
	app.do("GET", "/v1/accounts/acme/stage", token("rep-ana"), nil, http.StatusOK, &stage)
	if stage.Stage != "sales-accepted" {
		t.Errorf("acme's stage after accepting = %q, want sales-accepted", stage.Stage)
	}
	var rejected string
	var offered []string
	step("opening the reasons to reject",
		chromedp.Click(second+` .handoff-reject summary`, chromedp.ByQuery),
		chromedp.WaitReady(second+` select.handoff-reason option[value="timing"]`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('`+second+` select.handoff-reason option')].map((o) => o.value).filter(Boolean)`, &offered),
	)
	// Only the reasons that fit a rejection: none of those for wins.
	if got, want := strings.Join(offered, ","), "wrong-person,already-in-touch,no-budget,timing,competitor,other"; got != want {
		t.Errorf("the reasons to reject are %s, want %s", got, want)
	}
	step("rejecting the other with a reason",
		// Without a reason the rep is asked for one.
		chromedp.Click(second+` button.handoff-confirm`, chromedp.ByQuery),
		chromedp.WaitVisible(second+` .handoff-status`, chromedp.ByQuery),
		chromedp.SetValue(second+` select.handoff-reason`, "timing", chromedp.ByQuery),
		chromedp.Click(second+` button.handoff-confirm`, chromedp.ByQuery),
		chromedp.WaitVisible(second+`[data-decision="reject"]`, chromedp.ByQuery),
		chromedp.Text(second+` .handoff-status`, &rejected, chromedp.ByQuery),
	)
	if !strings.Contains(rejected, "Rejected: Timing") {
		t.Errorf("the rejected card says %q, want Rejected: Timing", rejected)
	}
	screenshot(t, ctx, "panel-handoff")
	step("reloading: the cards show the decisions made",
		chromedp.Reload(),
		chromedp.WaitVisible(first+`[data-decision="accept"]`, chromedp.ByQuery),
		chromedp.WaitVisible(second+`[data-decision="reject"]`, chromedp.ByQuery),
		chromedp.Text(second+` .handoff-status`, &rejected, chromedp.ByQuery),
	)
	if rejected != "Rejected: Timing." {
		t.Errorf("after a reload the rejected card says %q, want Rejected: Timing.", rejected)
	}

	step("signing out",
		chromedp.Evaluate(`fetch('/v1/session', {method: 'DELETE', headers: {'X-Dowser-CSRF': '1'}}).then(r => r.status)`, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	step("opening the console",
		chromedp.EmulateViewport(1366, 900),
		chromedp.Navigate("http://"+app.HTTPAddr()+"/console.html"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("mkt-jane"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#handoffs-signals tr[data-key="pricing-research"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#stage-list li[data-stage="mql"] .chip[data-signal="pricing-research"]`, chromedp.ByQuery),
	)
	var bySignal, byRep string
	step("reading the acceptance",
		chromedp.Text(`#handoffs-signals tr[data-key="pricing-research"]`, &bySignal, chromedp.ByQuery),
		chromedp.Text(`#handoffs-reps tr[data-key="rep-ana"]`, &byRep, chromedp.ByQuery),
	)
	// Handed (to rep-ana: mkt-jane's copies as the pricing page's owner
	// are no handoff), accepted, rejected, rate, time to accept.
	if f := strings.Fields(bySignal); len(f) < 6 || strings.Join(f[len(f)-6:len(f)-2], " ") != "2 1 1 50%" {
		t.Errorf("the signal's row reads %q, want 2 handed, 1 accepted, 1 rejected, 50%%", bySignal)
	}
	if !strings.Contains(byRep, "rep-ana") || !strings.Contains(byRep, "50%") {
		t.Errorf("rep-ana's row reads %q, want 50%%", byRep)
	}

	step("adding a stage and saving",
		chromedp.Click(`#stage-add`, chromedp.ByID),
		chromedp.WaitVisible(`#stage-list li[data-index="4"] input.stage-label`, chromedp.ByQuery),
		// The new stage's name is selected: typing replaces it.
		chromedp.SendKeys(`#stage-list li[data-index="4"] input.stage-label`, "Closed won", chromedp.ByQuery),
		chromedp.Click(`#stage-save`, chromedp.ByID),
		chromedp.WaitVisible(`#stage-history li[data-version="2"]`, chromedp.ByQuery),
	)
	var status string
	step("reading the status", chromedp.Text(`#stage-status`, &status, chromedp.ByID))
	if status != "Saved as version 2." {
		t.Errorf("the status reads %q, want Saved as version 2.", status)
	}
	var model struct {
		Version  int
		Accepted string `json:"accepted_stage"`
		Stages   []struct {
			ID, Label string
			Signals   []string
		}
	}
	app.do("GET", "/v1/stages", token("rep-ana"), nil, http.StatusOK, &model)
	if model.Version != 2 || len(model.Stages) != 5 || model.Stages[4].ID != "closed-won" || model.Stages[4].Label != "Closed won" ||
		model.Accepted != "sales-accepted" || len(model.Stages[1].Signals) != 1 {
		t.Errorf("the saved model is %+v, want version 2 with closed-won last, mql's signal and the accepted stage kept", model)
	}
	step("opening the versions",
		chromedp.Click(`#stage-history-box summary`, chromedp.ByQuery),
		chromedp.ScrollIntoView(`#stages-card`, chromedp.ByID),
	)
	screenshot(t, ctx, "console-stages")
}
