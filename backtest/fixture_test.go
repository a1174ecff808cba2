package backtest

import (
	"path/filepath"
	"strings"
	"testing"
)

// pricingEvents are events of the brief's example: the third pricing view
// of acme (e3) fires; e4 is inside the cooldown.
const pricingEvents = `events:
  - {id: e1, type: page_view, time: "2026-11-23T07:00:00Z", customer: {id: c1, account_id: acme, lifecycle: prospect}, properties: {url: "https://dowser.example/pricing"}}
  - {id: e2, type: page_view, time: 2026-11-24T07:00:00Z, customer: {id: c2, account_id: acme}, properties: {url: "https://dowser.example/pricing?plan=team"}}
  - {id: e3, type: page_view, time: "2026-11-25T07:00:00Z", customer: {id: c1, account_id: acme}, properties: {url: "https://dowser.example/en/pricing"}}
  - {id: e4, type: page_view, time: "2026-11-26T07:00:00Z", customer: {id: c1, account_id: acme}, properties: {url: "https://dowser.example/pricing"}}
  - {id: e5, type: webinar_signup, time: "2026-11-26T08:00:00Z", customer: {id: c9}, properties: {webinar_id: w1}}
`

func TestFixturePasses(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pricing-research.yaml", pricingSignal)
	writeFile(t, dir, "webinar.yaml", webinarSignal)
	path := writeFile(t, dir, "tests/pricing.yaml", `signals: [../pricing-research.yaml, ../webinar.yaml]
`+pricingEvents+`expect:
  - {signal: pricing-research, subject: "account:acme", event_id: e3, count: 3, message: "acme: pricing viewed 3 times in 7 days"}
  - {signal: webinar-signup, subject: "customer:c9", event_id: e5}
`)
	f, err := LoadFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{filepath.Join(dir, "pricing-research.yaml"), filepath.Join(dir, "webinar.yaml")}
	if len(f.SignalFiles) != 2 || f.SignalFiles[0] != wantFiles[0] || f.SignalFiles[1] != wantFiles[1] {
		t.Errorf("SignalFiles = %v, want %v", f.SignalFiles, wantFiles)
	}
	if len(f.Events) != 5 || len(f.Signals) != 2 {
		t.Fatalf("loaded %d events and %d signals, want 5 and 2", len(f.Events), len(f.Signals))
	}
	for range 2 { // Run is repeatable
		r := f.Run()
		if !r.OK() {
			t.Fatalf("fixture failed:\n%s", r.Diff())
		}
		if r.Diff() != "" || len(r.Alerts) != 2 {
			t.Errorf("Diff = %q, %d alerts; want no diff and 2 alerts", r.Diff(), len(r.Alerts))
		}
	}
}

func TestFixtureFailureDiff(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "pricing-research.yaml", pricingSignal)
	path := writeFile(t, dir, "f.yaml", `signals:
  - ./sub/../pricing-research.yaml
  - {id: webinar-signup, owner: o, when: {threshold: {match: {type: webinar_signup}, count: 1, within: 1d}}}
`+pricingEvents+`expect:
  - {signal: pricing-research, subject: "account:acme", event_id: e2}
  - {signal: pricing-research, subject: "account:acme", event_id: e3, count: 2}
`)
	f, err := LoadFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	r := f.Run()
	if r.OK() {
		t.Fatal("fixture passed, want a failure")
	}
	if len(r.Missing) != 1 || r.Missing[0].EventID != "e2" {
		t.Errorf("Missing = %v, want e2", r.Missing)
	}
	if len(r.Unexpected) != 1 || r.Unexpected[0].EventID != "e5" {
		t.Errorf("Unexpected = %v, want the webinar alert at e5", r.Unexpected)
	}
	if len(r.Mismatched) != 1 || r.Mismatched[0].Got.Count != 3 {
		t.Errorf("Mismatched = %v, want e3 with count 3", r.Mismatched)
	}
	want := `alerts of 5 events (- missing, + unexpected, ~ differs):
  - pricing-research account:acme at e2
  ~ pricing-research account:acme at e3: count: want 2, got 3
  + webinar-signup customer:c9 at e5  (count 1: "webinar-signup fired for customer:c9")
`
	if got := r.Diff(); got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestFixtureOrderMatters(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", webinarSignal)
	path := writeFile(t, dir, "f.yaml", `signals: [w.yaml]
events:
  - {id: a, type: webinar_signup, time: "2026-11-23T07:00:00Z", customer: {id: c1}}
  - {id: b, type: webinar_signup, time: "2026-11-23T08:00:00Z", customer: {id: c2}}
expect:
  - {signal: webinar-signup, subject: "customer:c2", event_id: b}
  - {signal: webinar-signup, subject: "customer:c1", event_id: a}
`)
	f, err := LoadFixture(path)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Run(); r.OK() || len(r.Missing) != 1 || len(r.Unexpected) != 1 {
		t.Errorf("alerts in another order: OK=%v, diff:\n%s", r.OK(), r.Diff())
	}
}

func TestLoadFixtureErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "w.yaml", webinarSignal)
	writeFile(t, dir, "bad.yaml", "id: bad\n")
	tests := []struct {
		name, fixture string
		want          []string
	}{
		{"unknown key", "signals: [w.yaml]\nevents: [{id: a, type: x, time: \"2026-11-23T07:00:00Z\", customer: {id: c}}]\nexpected: []\n",
			[]string{"line 3: field expected not found"}},
		{"bad events", `signals: [w.yaml]
events:
  - {id: a, type: page_view, time: "2026-11-23T07:00:00Z", customer: {id: c}}
  - {id: b, type: page_view, time: "2026-11-23T07:00:00Z", customer: {email: x@y}}
  - {id: c, type: page_view, time: "yesterday", customer: {id: c}}
  - {id: d, type: Page, time: "2026-11-23T07:00:00Z", customer: {id: c}, properties: {1: x}}
`, []string{
			"events[1] (line 4): missing_field: customer.id: customer.id or customer.anonymous_id is required",
			`events[2] (line 5): bad_field: time: "yesterday" is not an RFC 3339 time`,
			`events[3] (line 6): bad_field: type: "Page" is not a lowercase event type`,
		}},
		{"bad signals and expectations", `signals: [bad.yaml, nope.yaml, [x], {id: inline}]
events: [{id: a, type: x, time: "2026-11-23T07:00:00Z", customer: {id: c}}]
expect: [{signal: s}]
`, []string{
			"bad.yaml: owner: is required",
			"signals[1] (line 1): open ",
			"signals[2] (line 1): must be a file name or a signal definition",
			"signals[3] (line 1): owner: is required",
			"expect[0]: subject, event_id required",
		}},
		{"nothing", "{}\n", []string{"signals: at least one", "events: at least one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, "f.yaml", tt.fixture)
			_, err := LoadFixture(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), path) && !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error %q does not name the fixture", err)
			}
		})
	}
}
