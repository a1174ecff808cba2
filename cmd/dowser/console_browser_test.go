package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// A marketer signs in at /console.html, breaks the seeded signal's window,
// sees the problem at its path and line, fixes it, and finds version 2 in
// the history; the server stored exactly that.
func TestBrowserConsoleEditsSignalAndShowsProblems(t *testing.T) {
	app := startApp(t)
	app.seed()
	ctx := browser(t)
	base := "http://" + app.HTTPAddr() + "/console.html"

	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		// A bound that only gives up: a step waits for what the page
		// shows, and a CI machine busy with other tests can take seconds.
		c, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		if err := chromedp.Run(c, actions...); err != nil {
			screenshot(t, ctx, "console-failed")
			t.Fatalf("%s: %v", what, err)
		}
	}
	// replace selects the first occurrence of old in the editor and types
	// new over it with real key events, as a person would.
	replace := func(old, new string) {
		t.Helper()
		var ok bool
		step("selecting "+old,
			chromedp.Evaluate(`(() => {
				const ed = document.getElementById('editor');
				const i = ed.value.indexOf(`+strconv.Quote(old)+`);
				if (i < 0) return false;
				ed.focus();
				ed.setSelectionRange(i, i + `+strconv.Itoa(len(old))+`);
				return true;
			})()`, &ok),
		)
		if !ok {
			t.Fatalf("the editor does not contain %q", old)
		}
		step("typing "+new, chromedp.KeyEvent(new))
	}

	step("logging in",
		chromedp.Navigate(base),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("mkt-jane"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#signals tr[data-id="pricing-research"]`, chromedp.ByQuery),
	)
	var row string
	step("reading the list", chromedp.Text(`#signals tr[data-id="pricing-research"]`, &row, chromedp.ByQuery))
	for _, want := range []string{"pricing-research", "Pricing research", "high", "enabled", "v1"} {
		if !strings.Contains(strings.ToLower(row), strings.ToLower(want)) {
			t.Errorf("signal row %q lacks %q", row, want)
		}
	}

	step("opening the signal",
		chromedp.Click(`#signals tr[data-id="pricing-research"] button.row-open`, chromedp.ByQuery),
		chromedp.WaitVisible(`#history li[data-version="1"]`, chromedp.ByQuery),
	)
	var source string
	step("reading the source", chromedp.Value(`#editor`, &source, chromedp.ByID))
	if !strings.Contains(source, "within: 1h") {
		t.Fatalf("the editor shows %q, not the seeded signal's source", source)
	}
	withinLine := 0
	for i, l := range strings.Split(source, "\n") {
		if strings.Contains(l, "within:") {
			withinLine = i + 1
		}
	}

	replace("1h", "7x")
	problem := `#problems li[data-path="when.threshold.within"]`
	step("saving the invalid signal",
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(problem, chromedp.ByQuery),
	)
	var text, line string
	var okLine bool
	step("reading the problem",
		chromedp.Text(problem, &text, chromedp.ByQuery),
		chromedp.AttributeValue(problem, "data-line", &line, &okLine, chromedp.ByQuery),
	)
	if !strings.Contains(text, `"7x" is not a duration`) {
		t.Errorf("problem reads %q, want the reason", text)
	}
	if !okLine || line != strconv.Itoa(withinLine) {
		t.Errorf("problem points at line %q, want %d (where within: is)", line, withinLine)
	}
	// The gutter marks that line, and the problem's button selects it.
	var marked []int
	step("reading the gutter", chromedp.Evaluate(`[...document.querySelectorAll('#gutter .gutter-line.is-problem')].map(e => +e.textContent)`, &marked))
	if len(marked) != 1 || marked[0] != withinLine {
		t.Errorf("gutter marks lines %v, want [%d]", marked, withinLine)
	}
	var selected string
	step("jumping to the line",
		chromedp.Click(problem+` button.problem-jump`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const e = document.getElementById('editor'); return e.value.slice(e.selectionStart, e.selectionEnd); })()`, &selected),
	)
	if strings.TrimSpace(selected) != "within: 7x" {
		t.Errorf("the problem's button selects %q, want the within line", selected)
	}
	screenshot(t, ctx, "console-problem")

	var stored struct {
		Version int
		Source  string
	}
	app.do("GET", "/v1/signals/pricing-research", token("mkt-jane"), nil, 200, &stored)
	if stored.Version != 1 {
		t.Fatalf("an invalid save stored version %d", stored.Version)
	}

	replace("7x", "2h")
	step("saving the fixed signal",
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#history li[data-version="2"]`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#problems li`, chromedp.ByQuery),
	)
	var status string
	step("reading the status", chromedp.Text(`#save-status`, &status, chromedp.ByID))
	if !strings.Contains(status, "Saved version 2") {
		t.Errorf("save status %q, want version 2", status)
	}
	app.do("GET", "/v1/signals/pricing-research", token("mkt-jane"), nil, 200, &stored)
	if stored.Version != 2 || !strings.Contains(stored.Source, "within: 2h") {
		t.Fatalf("the server has version %d with source %q, want version 2 with within: 2h", stored.Version, stored.Source)
	}
	var history struct {
		Changes []struct {
			Version   int
			Action    string
			ChangedBy string `json:"changed_by"`
		}
	}
	app.do("GET", "/v1/signals/pricing-research/history", token("mkt-jane"), nil, 200, &history)
	if n := len(history.Changes); n == 0 || history.Changes[n-1].Version != 2 || history.Changes[n-1].ChangedBy != "mkt-jane" {
		t.Errorf("history %+v, want version 2 saved by mkt-jane last", history.Changes)
	}
	step("waiting for the list",
		chromedp.WaitVisible(`#signals tr[data-id="pricing-research"].is-selected`, chromedp.ByQuery),
	)
	step("reading the list", chromedp.Text(`#signals tr[data-id="pricing-research"]`, &row, chromedp.ByQuery))
	if !strings.Contains(row, "v2") {
		t.Errorf("signal row %q does not show v2", row)
	}
	screenshot(t, ctx, "console")

	// Version 1 is still there, in the history.
	var v1 string
	step("opening version 1",
		chromedp.Click(`#history li[data-version="1"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#version-dialog[open] #version-source`, chromedp.ByQuery),
		chromedp.Text(`#version-source`, &v1, chromedp.ByID),
	)
	if !strings.Contains(v1, "within: 1h") {
		t.Errorf("version 1 shows %q", v1)
	}
	step("closing version 1",
		chromedp.Click(`#version-close`, chromedp.ByID),
		chromedp.WaitNotPresent(`#version-dialog[open]`, chromedp.ByQuery),
	)

	// Disabling switches the current version off without a new version.
	// The switch is disabled while the console loads the signal; a click
	// then does nothing, so it is clicked from script in the task that sees
	// it enabled (a positional click can also land on a neighbour the
	// page's last changes moved there, on a busy machine).
	step("disabling",
		chromedp.Evaluate(`new Promise((done) => {
			const b = document.getElementById('enabled');
			const go = () => (b.disabled ? setTimeout(go, 20) : (b.click(), done(true)));
			go();
		})`, nil, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
		chromedp.WaitVisible(`#enabled[aria-checked="false"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#history li[data-action="disabled"]`, chromedp.ByQuery),
	)
	var enabled struct {
		Version int
		Enabled bool
	}
	app.do("GET", "/v1/signals/pricing-research", token("mkt-jane"), nil, 200, &enabled)
	if enabled.Enabled || enabled.Version != 2 {
		t.Errorf("after the switch the server has %+v, want version 2 disabled", enabled)
	}

	// A new signal starts from the template, is previewed over the
	// (empty) history and saved disabled.
	step("starting a new signal",
		chromedp.Click(`#new-signal`, chromedp.ByID),
		chromedp.WaitVisible(`#history-state`, chromedp.ByID),
	)
	replace("new-signal", "contact-sales")
	var preview string
	step("previewing",
		chromedp.Click(`#preview`, chromedp.ByID),
		chromedp.WaitVisible(`#preview-result .preview-headline`, chromedp.ByQuery),
		chromedp.Text(`#preview-result`, &preview, chromedp.ByID),
	)
	if !strings.Contains(preview, "0 alerts") {
		t.Errorf("preview reads %q", preview)
	}
	step("saving the new signal",
		chromedp.Click(`#save`, chromedp.ByID),
		chromedp.WaitVisible(`#signals tr[data-id="contact-sales"][data-enabled="false"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#history li[data-version="1"]`, chromedp.ByQuery),
	)
	app.do("GET", "/v1/signals/contact-sales", token("mkt-jane"), nil, 200, &enabled)
	if enabled.Enabled || enabled.Version != 1 {
		t.Errorf("the new signal is %+v, want version 1 disabled", enabled)
	}
	closeBrowser(t, ctx)
}

// A rep who opens the console is told it is for marketers.
func TestBrowserConsoleTellsRepsItIsForMarketers(t *testing.T) {
	app := startApp(t)
	app.seed()
	ctx := browser(t)
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var text string
	var rows int
	if err := chromedp.Run(c,
		chromedp.Navigate("http://"+app.HTTPAddr()+"/console.html"),
		chromedp.WaitVisible(`#token`, chromedp.ByID),
		chromedp.SendKeys(`#token`, token("rep-ana"), chromedp.ByID),
		chromedp.Click(`#login`, chromedp.ByID),
		chromedp.WaitVisible(`#view-denied`, chromedp.ByID),
		chromedp.Text(`#view-denied`, &text, chromedp.ByID),
		chromedp.Evaluate(`document.querySelectorAll('#signals tbody tr').length`, &rows),
	); err != nil {
		screenshot(t, ctx, "console-failed")
		t.Fatal(err)
	}
	if !strings.Contains(text, "Marketers only") {
		t.Errorf("a rep sees %q", text)
	}
	if rows != 0 {
		t.Errorf("a rep sees %d signal rows", rows)
	}
	closeBrowser(t, ctx)
}

// closeBrowser shuts Chromium down gracefully and waits for it, so that
// it no longer writes into its profile when the test removes it.
func closeBrowser(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Cancel(ctx); err != nil {
		t.Logf("closing chromium: %v", err)
	}
}
