package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// A marketer on a 1366-pixel laptop watches the alert count of a signal
// rise without reloading, sees what the reps' structured verdicts say
// (per signal over 4 and 12 weeks with a suggestion, per reason, per
// content item), exports them, maintains the reasons, finds a content
// owner by searching, and reads a template error in plain words.
func TestBrowserConsoleShowsFeedbackAndLiveCounts(t *testing.T) {
	app := startApp(t)
	app.seed()
	ctx := browser(t)
	base := "http://" + app.HTTPAddr() + "/console.html"
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "console-feedback-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	row := `#signals tr[data-id="pricing-research"]`
	step("logging in on a laptop screen",
		chromedp.EmulateViewport(1366, 768),
		chromedp.Navigate(base),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("mkt-jane"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(row, chromedp.ByQuery),
	)
	var alertsCell string
	step("reading the count", chromedp.Text(row+` td:nth-of-type(4)`, &alertsCell, chromedp.ByQuery))
	if alertsCell != "0" {
		t.Fatalf("alerts cell reads %q before any alert, want 0", alertsCell)
	}

	// Six alerts: the third view fires, and with cooldown 0 each further
	// one fires again.
	w := app.writer()
	now := time.Now()
	var views [][2][]byte
	for i := range 8 {
		views = append(views, kv(pricingView("acme", "c-"+strconv.Itoa(i%2+1), now.Add(time.Duration(i-9)*time.Minute))))
	}
	app.produce(w, views...)
	step("waiting for the count to rise without a reload",
		chromedp.WaitVisible(row+` td:nth-of-type(4)[data-count="6"]`, chromedp.ByQuery))

	// rep-ana, the account's owner, judges them: one useful, three too
	// early, two the wrong person.
	var listed struct {
		Alerts []struct{ Alert struct{ ID string } }
	}
	app.do("GET", "/v1/alerts", token("rep-ana"), nil, http.StatusOK, &listed)
	if len(listed.Alerts) != 6 {
		t.Fatalf("rep-ana has %d alerts, want 6", len(listed.Alerts))
	}
	for i, a := range listed.Alerts {
		v := map[string]any{"verdict": "not_useful", "reason": "wrong-person", "note": "spoke to an intern"}
		switch {
		case i == 0:
			v = map[string]any{"verdict": "useful"}
		case i <= 3:
			v = map[string]any{"verdict": "not_useful", "reason": "timing"}
		}
		app.do("PUT", "/v1/alerts/"+a.Alert.ID+"/verdict", token("rep-ana"), v, http.StatusOK, nil)
	}

	step("opening the signal",
		chromedp.Click(row+` button.row-open`, chromedp.ByQuery),
		chromedp.WaitVisible(`#history li[data-version="1"]`, chromedp.ByQuery),
		// The report is read again on the next refresh at the latest.
		chromedp.WaitVisible(`#suggestion[data-change="raise_count"]`, chromedp.ByQuery),
	)
	var impact, suggestion, reasons string
	step("reading the impact",
		chromedp.Text(`#impact-table tr[data-period="weeks_4"]`, &impact, chromedp.ByQuery),
		chromedp.Text(`#suggestion`, &suggestion, chromedp.ByID),
		chromedp.Text(`#feedback-reasons tr[data-reason="wrong-person"]`, &reasons, chromedp.ByQuery),
	)
	if f := strings.Fields(impact); len(f) < 8 || strings.Join(f[len(f)-5:], " ") != "6 6 1 0 0" {
		t.Errorf("4-week row reads %q, want 6 alerts, 6 acted on, 1 useful, 0 won, 0 value", impact)
	}
	if !strings.Contains(suggestion, "17% of verdicts") || !strings.Contains(suggestion, "the 5 not useful suggest it fired too early to act on: raise the count") {
		t.Errorf("suggestion reads %q", suggestion)
	}
	if f := strings.Fields(reasons); len(f) < 3 || f[len(f)-2] != "2" {
		t.Errorf("the wrong-person row reads %q, want 2 not useful", reasons)
	}
	// The suggested change, previewed over the same events: with count 5
	// instead of 3, four of the six views would have fired.
	var tried string
	step("previewing the suggestion",
		chromedp.Click(`#suggestion-try`, chromedp.ByID),
		chromedp.WaitVisible(`#suggestion-preview[data-now="6"][data-then="4"]`, chromedp.ByQuery),
		chromedp.Text(`#suggestion-preview`, &tried, chromedp.ByID),
	)
	if !strings.Contains(tried, "6 alerts as saved, 4 with count 5 instead of 3") {
		t.Errorf("the suggestion's preview reads %q", tried)
	}
	var content string
	step("reading the content table", chromedp.Text(`#feedback-content tr[data-content="pricing-page"]`, &content, chromedp.ByQuery))
	if !strings.Contains(content, "Pricing") || !strings.Contains(content, "17%") {
		t.Errorf("the pricing-page row reads %q, want its title and 17%% useful", content)
	}
	screenshot(t, ctx, "console-feedback")

	// The export link downloads the CSV with the session cookie.
	var csv string
	step("exporting",
		chromedp.Evaluate(`fetch(document.getElementById('export-csv').href).then(r => r.text())`, &csv, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	if !strings.HasPrefix(csv, "alert_id,fired_at,") || strings.Count(csv, "wrong-person") != 2 || strings.Count(csv, "timing") != 3 {
		t.Errorf("the export reads %q, want a header, two wrong-person and three timing verdicts", csv)
	}

	// Reasons: add one (fitting every verdict), take "won" off it, then
	// retire it: retiring keeps its kinds.
	step("adding a reason",
		chromedp.Click(`#reasons-box summary`, chromedp.ByQuery),
		chromedp.SendKeys(`#reason-label`, "Bad data", chromedp.ByID),
		chromedp.Click(`#reason-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reasons li[data-reason="bad-data"][data-kinds="not_useful won reject"]`, chromedp.ByQuery),
		chromedp.Click(`#reasons input[data-reason="bad-data"][data-kind="won"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reasons li[data-reason="bad-data"][data-kinds="not_useful reject"]`, chromedp.ByQuery),
		chromedp.Click(`#reasons button[data-reason="bad-data"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reasons li.is-retired[data-reason="bad-data"]`, chromedp.ByQuery),
	)
	var stored struct {
		Reasons []struct {
			ID      string
			Label   string
			Retired bool
			Kinds   []string
		}
	}
	app.do("GET", "/v1/feedback-reasons?retired=true", token("mkt-jane"), nil, http.StatusOK, &stored)
	found := false
	for _, r := range stored.Reasons {
		if r.ID == "bad-data" {
			found = r.Label == "Bad data" && r.Retired && strings.Join(r.Kinds, ",") == "not_useful,reject"
		}
	}
	if !found {
		t.Errorf("the server's reasons are %+v, want bad-data labelled Bad data, retired, for not_useful and reject", stored.Reasons)
	}

	// Content owners by search.
	var owner string
	step("searching content",
		chromedp.SendKeys(`#content-search`, "pric", chromedp.ByID),
		chromedp.WaitVisible(`#content-results li[data-id="pricing-page"]`, chromedp.ByQuery),
		chromedp.Click(`#content-results button[data-id="pricing-page"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#content-fields`, chromedp.ByID),
		chromedp.Value(`#content-owner`, &owner, chromedp.ByID),
	)
	if owner != "mkt-jane" {
		t.Errorf("the found item's owner reads %q, want mkt-jane", owner)
	}

	// Nothing scrolls sideways on a 1366-pixel screen.
	var overflow []string
	step("measuring", chromedp.Evaluate(`(() => {
		const out = [];
		const d = document.documentElement;
		if (d.scrollWidth > d.clientWidth) out.push('page ' + d.scrollWidth + '>' + d.clientWidth);
		for (const e of document.querySelectorAll('.table-wrap, .card')) {
			if (e.scrollWidth > e.clientWidth + 1) out.push((e.id || e.className) + ' ' + e.scrollWidth + '>' + e.clientWidth);
		}
		return out;
	})()`, &overflow))
	if len(overflow) > 0 {
		t.Errorf("at 1366 pixels these scroll sideways: %v", overflow)
	}

	// A template that is not closed, in plain words, on its line.
	var source string
	step("reading the source", chromedp.Value(`#editor`, &source, chromedp.ByID))
	msgLine := 0
	for i, l := range strings.Split(source, "\n") {
		if strings.HasPrefix(l, "message:") {
			msgLine = i + 1
		}
	}
	var ok bool
	step("breaking the template", chromedp.Evaluate(`(() => {
		const ed = document.getElementById('editor');
		const i = ed.value.indexOf('{{.Count}} times');
		if (i < 0) return false;
		ed.focus();
		ed.setSelectionRange(i, i + 16);
		return true;
	})()`, &ok))
	if !ok {
		t.Fatalf("the editor has no {{.Count}} times: %q", source)
	}
	var problem, line string
	var hasLine bool
	step("saving it",
		chromedp.KeyEvent("{{.Count"),
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#problems li[data-path="message"]`, chromedp.ByQuery),
		chromedp.Text(`#problems li[data-path="message"]`, &problem, chromedp.ByQuery),
		chromedp.AttributeValue(`#problems li[data-path="message"]`, "data-line", &line, &hasLine, chromedp.ByQuery),
	)
	if want := "the message template is not closed at line " + strconv.Itoa(msgLine); !strings.Contains(problem, want) || strings.Contains(problem, "template: message") {
		t.Errorf("the problem reads %q, want %q", problem, want)
	}
	if !hasLine || line != strconv.Itoa(msgLine) {
		t.Errorf("the problem points at line %q, want %d", line, msgLine)
	}
	closeBrowser(t, ctx)
}

// A marketer writes a signal with the form, and the form and the YAML edit
// one document: the form writes the YAML, an edit of the YAML shows in the
// form, and what is saved is that document.
func TestBrowserConsoleFormEditsTheSameDocument(t *testing.T) {
	app := startApp(t)
	app.seed()
	ctx := browser(t)
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "console-form-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	// typeInto replaces a form field's text with real key events.
	typeInto := func(sel, text string) {
		t.Helper()
		step("typing into "+sel,
			chromedp.WaitVisible(sel, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector(`+strconv.Quote(sel)+`).select()`, nil),
			chromedp.Focus(sel, chromedp.ByQuery),
			chromedp.Evaluate(`document.querySelector(`+strconv.Quote(sel)+`).select()`, nil),
			chromedp.KeyEvent(text),
		)
	}
	editor := func() string {
		t.Helper()
		var v string
		step("reading the YAML", chromedp.Value(`#editor`, &v, chromedp.ByID))
		return v
	}
	step("starting a new signal with the form",
		chromedp.Navigate("http://"+app.HTTPAddr()+"/console.html"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("mkt-jane"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#signals tr[data-id="pricing-research"]`, chromedp.ByQuery),
		chromedp.Click(`#new-signal`, chromedp.ByID),
		chromedp.Click(`#mode-form`, chromedp.ByID),
		chromedp.WaitVisible(`#signal-form [data-f="count"]`, chromedp.ByQuery),
	)
	var count string
	step("reading the form", chromedp.Value(`#signal-form [data-f="count"]`, &count, chromedp.ByQuery))
	if count != "3" {
		t.Errorf("the form's count reads %q, want the template's 3", count)
	}
	typeInto(`#signal-form [data-f="id"]`, "webinar-then-demo")
	typeInto(`#signal-form [data-f="count"]`, "5")
	if y := editor(); !strings.Contains(y, "id: webinar-then-demo\n") || !strings.Contains(y, "    count: 5\n") {
		t.Errorf("after the form's edits the YAML reads:\n%s", y)
	}
	step("switching to a sequence",
		chromedp.Evaluate(`(() => { const s = document.querySelector('#signal-form [data-f="kind"]'); s.value = 'sequence'; s.dispatchEvent(new Event('input', {bubbles: true})); })()`, nil),
		chromedp.WaitVisible(`#signal-form [data-f="steps.1.type"]`, chromedp.ByQuery),
	)
	typeInto(`#signal-form [data-f="steps.1.type"]`, "form_submit")
	y := editor()
	for _, want := range []string{"  sequence:\n", "      - {type: page_view, url: \"*/pricing*\"}\n", "      - {type: form_submit}\n", "    within: 7d\n"} {
		if !strings.Contains(y, want) {
			t.Errorf("the YAML lacks %q:\n%s", want, y)
		}
	}

	// An edit of the YAML shows in the form.
	var ok bool
	step("editing the YAML", chromedp.Evaluate(`(() => {
		const ed = document.getElementById('editor');
		const i = ed.value.indexOf('within: 7d');
		if (i < 0) return false;
		ed.focus();
		ed.setSelectionRange(i, i + 10);
		return true;
	})()`, &ok))
	if !ok {
		t.Fatalf("no within: 7d in:\n%s", y)
	}
	step("typing YAML and seeing it in the form",
		chromedp.KeyEvent("within: 2d"),
		chromedp.WaitVisible(`#signal-form [data-f="within"]`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#signal-form [data-f="within"]').value === '2d'`, nil),
	)
	// What the form cannot show, it says so.
	step("adding a where", chromedp.Evaluate(`(() => {
		const ed = document.getElementById('editor');
		ed.focus();
		ed.setSelectionRange(ed.value.indexOf('{type: form_submit}'), ed.value.indexOf('{type: form_submit}') + 19);
	})()`, nil))
	var declined string
	step("reading why the form stepped back",
		chromedp.KeyEvent(`{type: form_submit, where: "true"}`),
		chromedp.WaitVisible(`#form-declined`, chromedp.ByID),
		chromedp.Text(`#form-declined`, &declined, chromedp.ByID),
	)
	if !strings.Contains(declined, "when.sequence.steps[1] uses where, which the form does not show") {
		t.Errorf("the form says %q", declined)
	}
	step("taking the where out again",
		chromedp.Evaluate(`(() => {
			const ed = document.getElementById('editor');
			const i = ed.value.indexOf(', where: "true"');
			ed.focus();
			ed.setSelectionRange(i, i + 15);
		})()`, nil),
		chromedp.KeyEvent(" "),
		chromedp.WaitNotVisible(`#form-declined`, chromedp.ByID),
	)
	screenshot(t, ctx, "console-form")
	step("saving",
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#signals tr[data-id="webinar-then-demo"]`, chromedp.ByQuery),
	)
	var stored struct {
		Source   string
		Document struct {
			When struct {
				Sequence struct {
					Steps  []struct{ Type, URL string }
					Within string
				}
			}
		}
	}
	app.do("GET", "/v1/signals/webinar-then-demo", token("mkt-jane"), nil, http.StatusOK, &stored)
	sq := stored.Document.When.Sequence
	if len(sq.Steps) != 2 || sq.Steps[0].Type != "page_view" || sq.Steps[1].Type != "form_submit" || sq.Within != "2d" {
		t.Errorf("the server stored %+v from:\n%s", sq, stored.Source)
	}
	closeBrowser(t, ctx)
}
