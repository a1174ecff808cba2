package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A manager picks two reps to follow in the panel, watches their alerts
// arrive in the team view, sees who acknowledged what and how fast and
// what nobody acted on; back in their own alerts, a rep's verdict shows
// with its reason on the card as it is given, and the header counts every
// unacknowledged alert, not only the page loaded, as alerts arrive and
// are acknowledged (#15).
func TestBrowserManagerTeamView(t *testing.T) {
	app := startApp(t)
	app.seed()
	app.do("PUT", "/v1/users/mgr-max", adminToken, map[string]string{"name": "Max Manager", "role": "manager", "token": token("mgr-max")}, http.StatusOK, nil)
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "team-failed")
			var dump string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body.dataset.view + ' ' + location.href + ' ' + document.getElementById('view-team').innerText.slice(0, 3000)`, &dump))
			t.Logf("page: %s", dump)
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Two alerts a page: the manager will have five.
	step("logging in as a manager",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/?page_size=2"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("mgr-max"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitReady(`#alerts[aria-busy="false"]`, chromedp.ByQuery),
	)
	step("opening the team view and following two reps",
		chromedp.Click(`#team-link`, chromedp.ByID),
		chromedp.WaitVisible(`#team-empty`, chromedp.ByID),
		chromedp.Click(`#follows > summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`#follow-list input[value="rep-ana"]`, chromedp.ByQuery),
		chromedp.Click(`#follow-list input[value="rep-ana"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#team-reps tr[data-rep="rep-ana"]`, chromedp.ByQuery),
		chromedp.Click(`#follow-list input[value="rep-ben"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#team-reps tr[data-rep="rep-ben"]`, chromedp.ByQuery),
	)
	var followed []string
	var subs struct {
		Reps []struct {
			ID       string
			Followed bool
		}
	}
	app.do("GET", "/v1/managers/mgr-max/subscriptions", token("mgr-max"), nil, http.StatusOK, &subs)
	for _, r := range subs.Reps {
		if r.Followed {
			followed = append(followed, r.ID)
		}
	}
	if strings.Join(followed, ",") != "rep-ana,rep-ben" {
		t.Fatalf("after following in the panel, the manager follows %v, want rep-ana and rep-ben", followed)
	}

	// Ben's account first, then Ana's: two alerts for Ben, three for Ana,
	// each delivered to the manager too. The third view in an hour fires,
	// and each one after it.
	w := app.writer()
	now := time.Now()
	var views [][2][]byte
	for i := range 4 {
		views = append(views, kv(pricingView("globex", "c-g", now.Add(time.Duration(i-20)*time.Minute))))
	}
	app.produce(w, views...)
	step("waiting for Ben's alerts in the team view",
		chromedp.WaitVisible(`#team-reps tr[data-rep="rep-ben"] .unacted-count[data-count="2"]`, chromedp.ByQuery))
	views = nil
	for i := range 5 {
		views = append(views, kv(pricingView("acme", "c-a", now.Add(time.Duration(i-10)*time.Minute))))
	}
	app.produce(w, views...)
	step("waiting for Ana's alerts in the team view and the unacted list",
		chromedp.WaitVisible(`#team-reps tr[data-rep="rep-ana"] .unacted-count[data-count="3"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#team-summary[data-count="5"]`, chromedp.ByQuery),
	)
	var unacted int
	step("counting the unacted list", chromedp.Evaluate(`document.querySelectorAll('#team-alerts li.team-alert').length`, &unacted))
	if unacted != 5 {
		t.Errorf("the unacted list shows %d alerts, want 5", unacted)
	}

	// Ana acknowledges her oldest alert from her own stream.
	var anas struct {
		Alerts []struct{ Alert struct{ ID string } }
	}
	app.do("GET", "/v1/alerts", token("rep-ana"), nil, http.StatusOK, &anas)
	if len(anas.Alerts) != 3 {
		t.Fatalf("rep-ana has %d alerts, want 3", len(anas.Alerts))
	}
	newest, oldest := anas.Alerts[0].Alert.ID, anas.Alerts[2].Alert.ID
	ana := app.connect("rep-ana")
	ana.send(map[string]any{"op": "ack", "id": oldest})
	for f := ana.next(30 * time.Second); f["op"] != "acked"; f = ana.next(30 * time.Second) {
	}
	step("seeing Ana's acknowledgement and its time in the team view",
		chromedp.WaitVisible(`#team-reps tr[data-rep="rep-ana"] .unacted-count[data-count="2"]`, chromedp.ByQuery),
		chromedp.Click(`#tab-acted`, chromedp.ByID),
		chromedp.WaitVisible(`#team-alerts li.team-alert[data-id="`+oldest+`"] .ack-time`, chromedp.ByQuery),
	)
	var ackTime, median string
	step("reading how fast",
		chromedp.Text(`#team-alerts li.team-alert[data-id="`+oldest+`"] .ack-time`, &ackTime, chromedp.ByQuery),
		chromedp.Text(`#team-reps tr[data-rep="rep-ana"] .median-ack`, &median, chromedp.ByQuery),
	)
	if !strings.HasPrefix(ackTime, "Acknowledged in ") || median == "—" || median == "" {
		t.Errorf("acknowledgement reads %q, Ana's median %q; want a time for both", ackTime, median)
	}

	// The manager's own alerts: two on the page, five in the header.
	step("going back to the manager's alerts",
		chromedp.Click(`#team-back`, chromedp.ByID),
		chromedp.WaitVisible(`#alerts li.alert`, chromedp.ByQuery),
		// Loaded afresh, the panel lists one page; the live ones above
		// were all on screen.
		chromedp.Reload(),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#alerts li.alert[data-id="`+newest+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#unacked[data-count="5"]`, chromedp.ByQuery),
	)
	var cards int
	step("counting the cards", chromedp.Evaluate(`document.querySelectorAll('#alerts li.alert').length`, &cards))
	if cards != 2 {
		t.Errorf("the panel shows %d cards, want one page of 2", cards)
	}

	// Ana judges her newest alert not useful, for a reason: the manager's
	// card of the same alert shows it at once.
	app.do("PUT", "/v1/alerts/"+newest+"/verdict", token("rep-ana"), map[string]string{"verdict": "not_useful", "reason": "timing"}, http.StatusOK, nil)
	card := `#alerts li.alert[data-id="` + newest + `"]`
	step("seeing Ana's reason on the manager's card",
		chromedp.WaitVisible(card+` .team-reason[data-user="rep-ana"][data-reason="timing"]`, chromedp.ByQuery))
	var reason string
	step("reading it", chromedp.Text(card+` .team-reason`, &reason, chromedp.ByQuery))
	if !strings.Contains(reason, "Not useful") || !strings.Contains(reason, "Timing") {
		t.Errorf("the card reads %q, want Ana's verdict and its reason's label", reason)
	}

	// The header follows acknowledgements and arrivals beyond the page.
	step("acknowledging one of the manager's own alerts",
		chromedp.Click(card+` button.ack`, chromedp.ByQuery),
		chromedp.WaitVisible(`#unacked[data-count="4"]`, chromedp.ByQuery),
	)
	app.produce(w, kv(pricingView("acme", "c-a", now.Add(-time.Minute))))
	step("seeing the header count a new alert",
		chromedp.WaitVisible(`#unacked[data-count="5"]`, chromedp.ByQuery))
	var header string
	step("reading the header", chromedp.Text(`#unacked`, &header, chromedp.ByID))
	if header != "5 unacknowledged" {
		t.Errorf("header reads %q, want 5 unacknowledged", header)
	}

	// The manager judges another card not useful and picks a reason from
	// the marketers' list: it is stored with the verdict.
	var mine struct {
		Alerts []struct{ Alert struct{ ID string } }
	}
	app.do("GET", "/v1/alerts?limit=1", token("mgr-max"), nil, http.StatusOK, &mine)
	other := `#alerts li.alert[data-id="` + mine.Alerts[0].Alert.ID + `"]`
	step("giving a verdict with a reason",
		chromedp.WaitVisible(other, chromedp.ByQuery),
		chromedp.Click(other+` button.fb[data-verdict="not_useful"]`, chromedp.ByQuery),
		chromedp.WaitVisible(other+` .reason-select`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const s = document.querySelector('`+other+` .reason-select'); s.value = 'no-budget'; s.dispatchEvent(new Event('change', { bubbles: true })); })()`, nil),
		chromedp.WaitVisible(other+` .own-reason[data-reason="no-budget"]`, chromedp.ByQuery),
		// The picker is marked pending until the server has answered.
		chromedp.WaitVisible(other+` .reason-select:not([data-pending])`, chromedp.ByQuery),
	)
	var stored struct {
		Alerts []struct{ Verdict, Reason string }
	}
	app.do("GET", "/v1/alerts?limit=1", token("mgr-max"), nil, http.StatusOK, &stored)
	if a := stored.Alerts[0]; a.Verdict != "not_useful" || a.Reason != "no-budget" {
		t.Errorf("the manager's verdict is stored as %+v, want not_useful for no-budget", a)
	}

	// Back in the team view, the verdict shows with its reason and time.
	step("reading the verdict in the team view",
		chromedp.Click(`#team-link`, chromedp.ByID),
		// The tabs move down once the reps' table is drawn.
		chromedp.WaitVisible(`#team-reps tr[data-rep="rep-ana"]`, chromedp.ByQuery),
		chromedp.Click(`#tab-acted`, chromedp.ByID),
		chromedp.WaitVisible(`#team-alerts li.team-alert[data-id="`+newest+`"] .team-verdict`, chromedp.ByQuery),
	)
	var verdict string
	step("reading it", chromedp.Text(`#team-alerts li.team-alert[data-id="`+newest+`"] .team-verdict`, &verdict, chromedp.ByQuery))
	if verdict != "Not useful · Timing" {
		t.Errorf("the team view reads %q, want Not useful · Timing", verdict)
	}
	screenshot(t, ctx, "team")

	// Unfollowing Ben in the panel takes him out of the team.
	step("unfollowing Ben",
		chromedp.Evaluate(`document.getElementById('follows').open = true`, nil),
		chromedp.WaitVisible(`#follow-list input[value="rep-ben"]`, chromedp.ByQuery),
		chromedp.Click(`#follow-list input[value="rep-ben"]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#team-reps tr[data-rep="rep-ben"]`, chromedp.ByQuery),
	)
}
