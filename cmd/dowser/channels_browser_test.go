package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dowserhq/dowser"
)

// A rep manages their channels in the panel (#16): a webhook to a
// receiver that refuses (400) fails each delivery and is paused; the
// header says so without opening the view; the view shows the failed
// deliveries with their error and the pause with its reason, and resumes
// the channel. An e-mail channel gets digest times and a time zone. And a
// Won verdict carries the opportunity's value and a reason (#15), shown
// again after a reload.
func TestBrowserChannelsView(t *testing.T) {
	rc := startReceiver(t)
	rc.mu.Lock()
	rc.answer = func(string, int) int { return http.StatusBadRequest }
	rc.mu.Unlock()
	app := startApp(t, func(c *serveConfig) {
		c.DeliveryTimeout = 2 * time.Second
		c.DeliveryBackoff = 50 * time.Millisecond
		c.DeliveryBackoffMax = 200 * time.Millisecond
		c.DeliveryPauseAfter = 2
	})
	app.seed()
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "channels-failed")
			var dump string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body.dataset.view + ' ' + location.href + ' ' + document.body.innerText.slice(0, 3000)`, &dump))
			t.Logf("page: %s", dump)
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("logging in as a rep",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("rep-ana"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
	)

	// A webhook without its secret is refused, the reason next to the
	// secret's field; with one it is added, its URL shown by host only.
	hookURL := rc.url("/hook/T0K3N?key=s3cret")
	step("adding a webhook without a secret",
		chromedp.Click(`#channels-link`, chromedp.ByID),
		chromedp.WaitVisible(`#channels-empty`, chromedp.ByID),
		chromedp.SendKeys(`#ch-target`, hookURL, chromedp.ByID),
		chromedp.Click(`#ch-add`, chromedp.ByID),
		chromedp.WaitVisible(`#ch-err-secret`, chromedp.ByID),
	)
	var secretErr string
	step("reading the refusal", chromedp.Text(`#ch-err-secret`, &secretErr, chromedp.ByID))
	if !strings.Contains(secretErr, "secret") || !strings.Contains(secretErr, "required") {
		t.Errorf("the secret's field says %q, want the API's reason that a secret is required", secretErr)
	}
	hook := `#channel-list li.channel[data-kind="webhook"]`
	step("adding the webhook with a secret",
		chromedp.SendKeys(`#ch-secret`, "ana-webhook-secret-0123", chromedp.ByID),
		chromedp.Click(`#ch-add`, chromedp.ByID),
		chromedp.WaitVisible(hook, chromedp.ByQuery),
		chromedp.WaitNotVisible(`#ch-err-secret`, chromedp.ByID),
	)
	var shown string
	step("reading the target", chromedp.Text(hook+` .ch-target`, &shown, chromedp.ByQuery))
	if want := "http://" + rc.addr + "/…"; shown != want {
		t.Errorf("the webhook's target shows %q, want %q (scheme and host only)", shown, want)
	}
	var page string
	step("reading the page", chromedp.Evaluate(`document.documentElement.outerHTML`, &page))
	if strings.Contains(page, "T0K3N") || strings.Contains(page, "s3cret") {
		t.Error("the page shows the webhook URL's path or query, which may be a credential")
	}
	var mine struct{ Channels []dowser.Channel }
	app.do("GET", "/v1/channels", token("rep-ana"), nil, http.StatusOK, &mine)
	if len(mine.Channels) != 1 || mine.Channels[0].Target != hookURL || !mine.Channels[0].Enabled {
		t.Fatalf("rep-ana's channels after adding in the panel: %+v, want the enabled webhook to %s", mine.Channels, hookURL)
	}
	hookID := mine.Channels[0].ID

	// Five pricing views: three alerts, each refused by the receiver; the
	// second failure in a row pauses the channel.
	step("going back to the alerts", chromedp.Click(`#channels-back`, chromedp.ByID), chromedp.WaitVisible(`#view-panel`, chromedp.ByID))
	w := app.writer()
	now := time.Now()
	for i := range 5 {
		app.produce(w, kv(pricingView("acme", "c1", now.Add(time.Duration(i)*time.Second))))
	}
	rc.await(60*time.Second, "the webhook paused", func() bool { return app.channel("rep-ana", hookID).PausedAt != nil })

	// The header tells of it when the panel loads, the view not open.
	step("seeing the header's mark",
		chromedp.Reload(),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#channels-link[data-alarm="paused"] #channels-mark`, chromedp.ByQuery),
		chromedp.WaitVisible(`#view-panel`, chromedp.ByID),
	)
	step("opening the channels and the failed deliveries",
		chromedp.Click(`#channels-link`, chromedp.ByID),
		chromedp.WaitVisible(hook+` .ch-pause-reason`, chromedp.ByQuery),
		chromedp.Click(hook+` details.ch-failures > summary`, chromedp.ByQuery),
		chromedp.WaitVisible(hook+` li.ch-failure .ch-last-error`, chromedp.ByQuery),
	)
	var reason, failedCount string
	var failures []map[string]string
	step("reading the pause and the failures",
		chromedp.Text(hook+` .ch-pause-reason`, &reason, chromedp.ByQuery),
		chromedp.AttributeValue(hook+` .ch-failed`, "data-count", &failedCount, nil, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('li.ch-failure')].map((li) => ({
			error: li.querySelector('.ch-last-error').textContent,
			status: li.querySelector('.ch-last-status').textContent,
			attempts: li.querySelector('.ch-attempts').dataset.count,
			when: li.querySelector('.ch-when') ? li.querySelector('.ch-when').dateTime : ''}))`, &failures),
	)
	if !strings.HasPrefix(reason, "Paused: ") || !strings.Contains(reason, "HTTP 400") {
		t.Errorf("the pause reads %q, want Paused: with the last error (HTTP 400)", reason)
	}
	if failedCount != "2" && failedCount != "3" {
		t.Errorf("the failed count reads %q, want the 2 or 3 deliveries refused", failedCount)
	}
	if len(failures) < 2 {
		t.Fatalf("the failed deliveries list %v, want at least 2", failures)
	}
	for _, f := range failures {
		if f["status"] != "HTTP 400" || f["attempts"] != "1" || !strings.Contains(f["error"], "400") || f["when"] == "" {
			t.Errorf("failed delivery shows %v; want HTTP 400, 1 attempt, its error and when", f)
		}
	}

	// The receiver is fixed; Resume lifts the pause, and what queued
	// meanwhile is sent.
	rc.mu.Lock()
	rc.answer = func(string, int) int { return http.StatusOK }
	rc.mu.Unlock()
	step("resuming the webhook",
		chromedp.Click(hook+` button.ch-resume`, chromedp.ByQuery),
		chromedp.WaitNotPresent(hook+` .ch-pause-reason`, chromedp.ByQuery),
		// Failures of the last day still mark the header.
		chromedp.WaitVisible(`#channels-link[data-alarm="failed"] #channels-mark`, chromedp.ByQuery),
	)
	got := app.channel("rep-ana", hookID)
	if got.PausedAt != nil || got.Target != hookURL || !got.Enabled {
		t.Errorf("after Resume the channel is %+v; want unpaused, same target, enabled", got)
	}
	rc.await(60*time.Second, "the queued deliveries sent after resuming", func() bool {
		c := app.channel("rep-ana", hookID)
		return c.Failed+c.Sent == 3 && c.Pending == 0
	})

	// An e-mail channel with digests, in the browser's zone by default.
	var zoneIsBrowsers bool
	step("choosing an e-mail channel",
		chromedp.Evaluate(`(() => { const k = document.getElementById('ch-kind'); k.value = 'email'; k.dispatchEvent(new Event('change')); return true; })()`, nil),
		chromedp.WaitVisible(`#ch-times`, chromedp.ByID),
		chromedp.WaitNotVisible(`#ch-secret`, chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('ch-zone').value === Intl.DateTimeFormat().resolvedOptions().timeZone`, &zoneIsBrowsers),
	)
	if !zoneIsBrowsers {
		t.Error("the time zone picker does not default to the browser's zone")
	}
	mail := `#channel-list li.channel[data-kind="email"]`
	step("adding it with two digest times in Madrid",
		chromedp.SendKeys(`#ch-target`, "ana@example.com", chromedp.ByID),
		chromedp.SendKeys(`#ch-times`, "09:00, 14:30", chromedp.ByID),
		chromedp.SetValue(`#ch-zone`, "Europe/Madrid", chromedp.ByID),
		chromedp.Click(`#ch-add`, chromedp.ByID),
		chromedp.WaitVisible(mail+` .ch-digest`, chromedp.ByQuery),
	)
	var digest, mailTarget string
	step("reading it", chromedp.Text(mail+` .ch-digest`, &digest, chromedp.ByQuery), chromedp.Text(mail+` .ch-target`, &mailTarget, chromedp.ByQuery))
	if !strings.Contains(digest, "09:00, 14:30") || !strings.Contains(digest, "Europe/Madrid") || mailTarget != "ana@example.com" {
		t.Errorf("the e-mail channel shows %q, %q; want ana@example.com with its digest times and zone", mailTarget, digest)
	}
	app.do("GET", "/v1/channels", token("rep-ana"), nil, http.StatusOK, &mine)
	var email *dowser.Channel
	for i := range mine.Channels {
		if mine.Channels[i].Kind == dowser.ChannelEmail {
			email = &mine.Channels[i]
		}
	}
	if email == nil || strings.Join(email.DigestTimes, ",") != "09:00,14:30" || email.TimeZone != "Europe/Madrid" {
		t.Errorf("the API has the e-mail channel as %+v, want digests at 09:00 and 14:30 in Europe/Madrid", email)
	}

	// A Won with the opportunity's value.
	var alerts struct {
		Alerts []struct{ Alert struct{ ID string } }
	}
	app.do("GET", "/v1/alerts", token("rep-ana"), nil, http.StatusOK, &alerts)
	if len(alerts.Alerts) == 0 {
		t.Fatal("rep-ana has no alerts")
	}
	id := alerts.Alerts[0].Alert.ID
	card := `#alerts li.alert[data-id="` + id + `"]`
	step("giving a won verdict with a value",
		chromedp.Click(`#channels-back`, chromedp.ByID),
		chromedp.WaitVisible(card+` button.fb[data-verdict="won"]`, chromedp.ByQuery),
		chromedp.Click(card+` button.fb[data-verdict="won"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` input.won-value`, chromedp.ByQuery),
		chromedp.SendKeys(card+` input.won-value`, "-5", chromedp.ByQuery),
		chromedp.Click(card+` button.won-value-save`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` .won-value-error`, chromedp.ByQuery),
		chromedp.SetValue(card+` input.won-value`, "24000", chromedp.ByQuery),
		chromedp.Click(card+` button.won-value-save`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` .own-value[data-value="24000"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` .won-value-form:not([data-pending])`, chromedp.ByQuery),
		chromedp.WaitReady(card+` .reason-select option[value="right-timing"]`, chromedp.ByQuery),
	)
	// The picker offers the reasons that fit a win only: no "wrong person".
	var offered []string
	step("reading the reasons offered for a win",
		chromedp.Evaluate(`[...document.querySelectorAll('`+card+` .reason-select option')].map((o) => o.value).filter(Boolean)`, &offered))
	if got, want := strings.Join(offered, ","), "competitor,right-timing,champion,other"; got != want {
		t.Errorf("the picker for a win offers %s, want %s", got, want)
	}
	step("giving the win a reason",
		chromedp.Evaluate(`(() => { const s = document.querySelector('`+card+` .reason-select'); s.value = 'competitor'; s.dispatchEvent(new Event('change', { bubbles: true })); })()`, nil),
		chromedp.WaitVisible(card+` .own-reason[data-reason="competitor"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` .reason-select:not([data-pending])`, chromedp.ByQuery),
	)
	if v, verdict := exportedValue(t, app, id); verdict != "won" || !strings.HasPrefix(v, "24000") {
		t.Errorf("the export has alert %s as verdict %q value %q, want won with 24000", id, verdict, v)
	}
	// A reload lists the card again over REST: the win shows its reason
	// and value as it did when given.
	step("reloading: the card shows the win's reason and value",
		chromedp.Reload(),
		chromedp.WaitVisible(`#conn[data-state="connected"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` button.fb[data-verdict="won"][aria-pressed="true"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` .own-reason[data-reason="competitor"]`, chromedp.ByQuery),
		chromedp.WaitVisible(card+` .own-value[data-value="24000"]`, chromedp.ByQuery),
	)
}

// exportedValue reads an alert's verdict and value from the admin's CSV
// export.
func exportedValue(t *testing.T, app *testApp, alertID string) (value, verdict string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+app.HTTPAddr()+"/v1/export/alerts.csv?weeks=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("export: status %d: %s", resp.StatusCode, b)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("reading the export: %v", err)
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	for _, r := range rows[1:] {
		if r[col["alert_id"]] == alertID && r[col["recipient"]] == "rep-ana" {
			return r[col["value"]], r[col["verdict"]]
		}
	}
	t.Fatalf("export has no row for alert %s to rep-ana: %s", alertID, fmt.Sprint(rows))
	return "", ""
}
