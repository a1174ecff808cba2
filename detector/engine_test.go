package detector

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

var t0 = time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)

// threshold returns a parsed signal counting page views of customer c-1's
// kind; extra lines are appended to the document (top-level keys).
func threshold(t testing.TB, id string, count int, within string, extra ...string) *Signal {
	t.Helper()
	doc := fmt.Sprintf("id: %s\nowner: mkt-jane\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: %d\n    within: %s\n%s",
		id, count, within, strings.Join(extra, "\n"))
	s, err := ParseSignal([]byte(doc))
	if err != nil {
		t.Fatalf("parsing %s: %v", doc, err)
	}
	return s
}

func mustParse(t testing.TB, doc string) *Signal {
	t.Helper()
	s, err := ParseSignal([]byte(doc))
	if err != nil {
		t.Fatalf("parsing %s: %v", doc, err)
	}
	return s
}

// view returns a page view of customer c-1 on the pricing page at t0+at.
func view(id string, at time.Duration, opts ...func(*schema.Event)) *schema.Event {
	ev := &schema.Event{
		ID: id, Type: schema.TypePageView, Time: t0.Add(at),
		Customer:   schema.Customer{ID: "c-1"},
		Properties: map[string]any{"url": "https://example.com/pricing", "title": "Pricing"},
	}
	for _, o := range opts {
		o(ev)
	}
	return ev
}

func customer(id, account, lifecycle string) func(*schema.Event) {
	return func(ev *schema.Event) {
		ev.Customer = schema.Customer{ID: id, AccountID: account, Lifecycle: lifecycle}
	}
}

func ofType(typ string) func(*schema.Event) { return func(ev *schema.Event) { ev.Type = typ } }

func withURL(url string) func(*schema.Event) {
	return func(ev *schema.Event) { ev.Properties["url"] = url }
}

func withContent(id string) func(*schema.Event) { return func(ev *schema.Event) { ev.ContentID = id } }

// fired runs events through e and returns "signal@event" for each alert.
func fired(e *Engine, events ...*schema.Event) []string {
	var got []string
	for _, ev := range events {
		for _, a := range e.Evaluate(ev) {
			got = append(got, a.SignalID+"@"+a.EventID)
		}
	}
	return got
}

func TestThreshold(t *testing.T) {
	const m = time.Minute
	tests := []struct {
		name   string
		signal []string // extra document lines
		count  int
		within string
		events []*schema.Event
		want   []string
	}{
		{"count-1 events do not fire", nil, 3, "1h",
			[]*schema.Event{view("e1", 0), view("e2", m)}, nil},
		{"count events fire", nil, 3, "1h",
			[]*schema.Event{view("e1", 0), view("e2", m), view("e3", 2*m)}, []string{"s@e3"}},
		{"count of one fires at once", nil, 1, "1h",
			[]*schema.Event{view("e1", 0)}, []string{"s@e1"}},
		{"event exactly within before is out", nil, 2, "1h",
			[]*schema.Event{view("e1", 0), view("e2", time.Hour)}, nil},
		{"event within-1ns before is in", nil, 2, "1h",
			[]*schema.Event{view("e1", 0), view("e2", time.Hour-time.Nanosecond)}, []string{"s@e2"}},
		{"later events are not in an earlier window", []string{"cooldown: 0s"}, 2, "1h",
			[]*schema.Event{view("e2", 30*m), view("e1", 0)}, nil},
		{"late event counts for later ones", nil, 3, "1h",
			[]*schema.Event{view("e1", 50*m), view("e2", 10*m), view("e3", 55*m)}, []string{"s@e3"}},
		{"late event fires itself", []string{"cooldown: 0s"}, 2, "1h",
			[]*schema.Event{view("e1", 0), view("e3", 50*m), view("e2", 40*m)}, []string{"s@e3", "s@e2"}},
		{"no second alert inside the cooldown", []string{"cooldown: 2h"}, 1, "1h",
			[]*schema.Event{view("e1", 0), view("e2", time.Hour), view("e3", 2*time.Hour-time.Nanosecond)}, []string{"s@e1"}},
		{"alert again exactly one cooldown later", []string{"cooldown: 2h"}, 1, "1h",
			[]*schema.Event{view("e1", 0), view("e2", time.Hour), view("e3", 2*time.Hour)}, []string{"s@e1", "s@e3"}},
		{"cooldown defaults to within", nil, 1, "1h",
			[]*schema.Event{view("e1", 0), view("e2", 59*m), view("e3", time.Hour)}, []string{"s@e1", "s@e3"}},
		{"zero cooldown fires on every event", []string{"cooldown: 0s"}, 2, "1h",
			[]*schema.Event{view("e1", 0), view("e2", m), view("e3", 2*m)}, []string{"s@e2", "s@e3"}},
		{"a later alert does not cool an earlier event", []string{"cooldown: 1h"}, 1, "1h",
			[]*schema.Event{view("e2", 30*m), view("e1", 0)}, []string{"s@e2", "s@e1"}},
		{"duplicate id counted once", nil, 2, "1h",
			[]*schema.Event{view("e1", 0), view("e1", 0), view("e1", m)}, nil},
		{"duplicate of a firing event does not fire again", []string{"cooldown: 0s"}, 1, "1h",
			[]*schema.Event{view("e1", 0), view("e1", 0), view("e2", m)}, []string{"s@e1", "s@e2"}},
		{"other customers count apart", nil, 2, "1h",
			[]*schema.Event{view("e1", 0), view("e2", m, customer("c-2", "", ""))}, nil},
		{"anonymous id is the customer key", nil, 2, "1h",
			[]*schema.Event{view("e1", 0, func(ev *schema.Event) { ev.Customer = schema.Customer{AnonymousID: "ajs-1"} }),
				view("e2", m, func(ev *schema.Event) { ev.Customer = schema.Customer{AnonymousID: "ajs-1"} })}, []string{"s@e2"}},
		{"other types do not match", nil, 1, "1h",
			[]*schema.Event{view("e1", 0, ofType(schema.TypeFormSubmit))}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New([]*Signal{threshold(t, "s", tc.count, tc.within, tc.signal...)})
			if got := fired(e, tc.events...); !slices.Equal(got, tc.want) {
				t.Errorf("got alerts %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScope(t *testing.T) {
	events := []*schema.Event{
		view("e1", 0, customer("c-1", "acme", "")),
		view("e2", time.Minute, customer("c-2", "acme", "")),
		view("e3", 2*time.Minute, customer("c-3", "", "")),
	}
	tests := []struct {
		scope string
		want  []string // subjects of the alerts
	}{
		{"account", []string{"account:acme"}},
		{"customer", nil},
	}
	for _, tc := range tests {
		t.Run(tc.scope, func(t *testing.T) {
			e := New([]*Signal{threshold(t, "s", 2, "1h", "scope: "+tc.scope)})
			var got []string
			for _, ev := range events {
				for _, a := range e.Evaluate(ev) {
					got = append(got, a.Subject)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got subjects %v, want %v", got, tc.want)
			}
		})
	}

	// An event without an account falls back to the customer subject.
	e := New([]*Signal{threshold(t, "s", 1, "1h", "scope: account")})
	alerts := e.Evaluate(view("e1", 0, customer("c-3", "", "")))
	if len(alerts) != 1 || alerts[0].Subject != "customer:c-3" {
		t.Errorf("got %+v, want one alert for customer:c-3", alerts)
	}
}

func TestAudience(t *testing.T) {
	lifecycles := []string{"", "prospect", "customer"}
	tests := []struct {
		audience string
		want     []string // lifecycles whose event fires
	}{
		{"any", []string{"", "prospect", "customer"}},
		{"prospect", []string{"", "prospect"}},
		{"customer", []string{"customer"}},
	}
	for _, tc := range tests {
		t.Run(tc.audience, func(t *testing.T) {
			e := New([]*Signal{threshold(t, "s", 1, "1h", "audience: "+tc.audience)})
			var got []string
			for i, lc := range lifecycles {
				ev := view(fmt.Sprint("e", i), 0, customer(fmt.Sprint("c-", i), "", lc))
				if len(e.Evaluate(ev)) > 0 {
					got = append(got, lc)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got firing lifecycles %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name  string
		match string
		event *schema.Event
		want  bool
	}{
		{"type", "{type: page_view}", view("e", 0), true},
		{"url glob", "{type: page_view, url: '*/pricing*'}", view("e", 0, withURL("https://example.com/pricing?x=1")), true},
		{"url glob mismatch", "{type: page_view, url: '*/pricing*'}", view("e", 0, withURL("https://example.com/blog")), false},
		{"url glob without url", "{url: '*'}", view("e", 0, func(ev *schema.Event) { ev.Properties = nil }), true},
		{"url glob needs the url property", "{url: '*/pricing'}", view("e", 0, func(ev *schema.Event) { ev.Properties = nil }), false},
		{"content id", "{content_id: kafka-guide}", view("e", 0, withContent("kafka-guide")), true},
		{"content id of another type", "{content_id: kafka-guide}", view("e", 0, ofType("webinar_signup"), withContent("kafka-guide")), true},
		{"content id mismatch", "{content_id: kafka-guide}", view("e", 0, withContent("flink-guide")), false},
		{"every field must match", "{type: form_submit, content_id: kafka-guide}", view("e", 0, withContent("kafka-guide")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, "id: s\nowner: o\nwhen:\n  threshold:\n    match: "+tc.match+"\n    count: 1\n    within: 1h\n")
			got := len(New([]*Signal{s}).Evaluate(tc.event)) == 1
			if got != tc.want {
				t.Errorf("got fired %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAlertOrderByID(t *testing.T) {
	signals := []*Signal{
		mustParse(t, "id: c-any\nowner: o\ncooldown: 0s\nwhen: {threshold: {match: {content_id: kafka-guide}, count: 1, within: 1h}}\n"),
		threshold(t, "d-views", 1, "1h"),
		threshold(t, "a-views", 1, "1h"),
		mustParse(t, "id: b-forms\nowner: o\nwhen: {threshold: {match: {type: form_submit}, count: 1, within: 1h}}\n"),
	}
	e := New(signals)
	if got, want := fired(e, view("e1", 0, withContent("kafka-guide"))), []string{"a-views@e1", "c-any@e1", "d-views@e1"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, want := fired(e, view("e2", 0, ofType("form_submit"), withContent("kafka-guide"))), []string{"b-forms@e2", "c-any@e2"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, want := fired(e, view("e3", 0, ofType("identify"), withContent("kafka-guide"))), []string{"c-any@e3"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAlertFields(t *testing.T) {
	s := mustParse(t, briefYAML)
	s.Version = 4
	e := New([]*Signal{s})
	var alerts []schema.Alert
	for i, c := range []string{"c-1", "c-2", "c-1"} {
		alerts = e.Evaluate(view(fmt.Sprint("e", i+1), time.Duration(i)*time.Hour, customer(c, "acme", "prospect"), withContent("pricing-page")))
	}
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(alerts))
	}
	ev := func(id, cust string, at time.Duration) schema.Evidence {
		return schema.Evidence{EventID: id, Type: "page_view", Time: t0.Add(at), CustomerID: cust,
			ContentID: "pricing-page", URL: "https://example.com/pricing", Title: "Pricing"}
	}
	want := schema.Alert{
		ID:            schema.AlertID("pricing-research", 4, "account:acme", "e3"),
		SignalID:      "pricing-research",
		SignalVersion: 4,
		SignalName:    "Pricing research",
		SignalOwner:   "mkt-jane",
		Subject:       "account:acme",
		CustomerID:    "c-1",
		AccountID:     "acme",
		Lifecycle:     "prospect",
		Priority:      "high",
		Message:       "acme: pricing viewed 3 times in 7 days",
		Count:         3,
		EventID:       "e3",
		Time:          t0.Add(2 * time.Hour),
		Evidence:      []schema.Evidence{ev("e1", "c-1", 0), ev("e2", "c-2", time.Hour), ev("e3", "c-1", 2*time.Hour)},
	}
	if !reflect.DeepEqual(alerts[0], want) {
		t.Errorf("got\n%+v\nwant\n%+v", alerts[0], want)
	}
}

func TestAlertIDDeterministic(t *testing.T) {
	run := func(version int) []schema.Alert {
		s := threshold(t, "s", 2, "1h", "cooldown: 0s")
		s.Version = version
		e := New([]*Signal{s})
		var all []schema.Alert
		for _, ev := range []*schema.Event{view("e1", 0), view("e2", time.Minute), view("e3", 2*time.Minute)} {
			all = append(all, e.Evaluate(ev)...)
		}
		return all
	}
	first, second := run(1), run(1)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("same input twice: got\n%+v\nand\n%+v", first, second)
	}
	if len(first) != 2 || first[0].ID == first[1].ID {
		t.Fatalf("got %+v, want two alerts with distinct ids", first)
	}
	if other := run(2); other[0].ID == first[0].ID {
		t.Errorf("version 1 and 2: got the same alert id %s", other[0].ID)
	}
}

func TestEvidenceOrderAndCap(t *testing.T) {
	e := New([]*Signal{threshold(t, "s", 25, "1h")})
	var alerts []schema.Alert
	// Arrive newest first, but for the newest: evidence is still oldest
	// first.
	for _, i := range append([]int{23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, 24) {
		alerts = append(alerts, e.Evaluate(view(fmt.Sprint("e", i), time.Duration(i)*time.Minute))...)
	}
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if a.Count != 25 {
		t.Errorf("got count %d, want 25", a.Count)
	}
	var got, want []string
	for _, ev := range a.Evidence {
		got = append(got, ev.EventID)
	}
	for i := 5; i < 25; i++ {
		want = append(want, fmt.Sprint("e", i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("got evidence %v, want %v", got, want)
	}

	// The evidence is the alert's own: later events do not change it.
	e.Evaluate(view("late", 30*time.Second))
	if a.Evidence[0].EventID != "e5" {
		t.Errorf("evidence changed after the alert: got %s first", a.Evidence[0].EventID)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct {
		name    string
		message string
		event   *schema.Event
		want    string
	}{
		{"default", "", view("e1", 0), "Views fired for customer:c-1"},
		{"every field", "{{.Signal}}|{{.SignalID}}|{{.Customer}}|{{.Account}}|{{.Subject}}|{{.Count}}|{{.Priority}}|{{len .Evidence}}",
			view("e1", 0, customer("c-1", "acme", "")), "Views|views|c-1|acme|customer:c-1|1|medium|1"},
		{"account falls back to the customer", "{{.Account}}", view("e1", 0), "c-1"},
		{"evidence", "{{range .Evidence}}{{.Title}} {{.URL}}{{end}}", view("e1", 0), "Pricing https://example.com/pricing"},
		{"range with variables", "{{range $i, $e := .Evidence}}{{$i}}:{{$e.EventID}} {{$.Count}}{{end}}", view("e1", 0), "0:e1 1"},
		{"execution error falls back to the default", "{{(index .Evidence 5).URL}}", view("e1", 0), "Views fired for customer:c-1"},
		{"too long falls back to the default", `{{if lt .Count 20}}{{printf "%5000s" "x"}}{{end}}`, view("e1", 0), "Views fired for customer:c-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var extra []string
			if tc.message != "" {
				extra = append(extra, "message: '"+tc.message+"'")
			}
			s := threshold(t, "views", 1, "1h", append(extra, "name: Views")...)
			alerts := New([]*Signal{s}).Evaluate(tc.event)
			if len(alerts) != 1 {
				t.Fatalf("got %d alerts, want 1", len(alerts))
			}
			if alerts[0].Message != tc.want {
				t.Errorf("got message %q, want %q", alerts[0].Message, tc.want)
			}
		})
	}
}

func TestSetSignals(t *testing.T) {
	const m = time.Minute
	tests := []struct {
		name  string
		after func(t *testing.T) *Signal // the signal set after two events
		want  []string
	}{
		{"unchanged signal keeps its state", func(t *testing.T) *Signal { return threshold(t, "s", 3, "1h") }, []string{"s@e3"}},
		{"changed version drops the state", func(t *testing.T) *Signal {
			s := threshold(t, "s", 3, "1h")
			s.Version = 2
			return s
		}, nil},
		{"changed definition drops the state", func(t *testing.T) *Signal { return threshold(t, "s", 3, "2h") }, nil},
		{"another signal starts empty", func(t *testing.T) *Signal { return threshold(t, "t", 3, "1h") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New([]*Signal{threshold(t, "s", 3, "1h")})
			fired(e, view("e1", 0), view("e2", m))
			if got := e.Subjects(); got != 1 {
				t.Fatalf("got %d subjects, want 1", got)
			}
			e.SetSignals([]*Signal{tc.after(t)})
			if got := fired(e, view("e3", 2*m)); !slices.Equal(got, tc.want) {
				t.Errorf("got alerts %v, want %v", got, tc.want)
			}
		})
	}

	e := New([]*Signal{threshold(t, "s", 3, "1h"), threshold(t, "t", 3, "1h")})
	fired(e, view("e1", 0))
	if got := e.Subjects(); got != 2 {
		t.Fatalf("got %d subjects, want 2", got)
	}
	e.SetSignals([]*Signal{threshold(t, "t", 3, "1h")})
	if got := e.Subjects(); got != 1 {
		t.Errorf("after removing a signal: got %d subjects, want 1", got)
	}
	e.SetSignals(nil)
	if got := fired(e, view("e2", m)); got != nil {
		t.Errorf("with no signals: got alerts %v", got)
	}
}

func TestNewHandBuiltSignals(t *testing.T) {
	valid := &Signal{
		ID: "hand", Owner: "o",
		When: When{Threshold: &Threshold{Match: Match{Type: "page_view"}, Count: 1, Within: Duration(time.Hour)}},
	}
	invalid := &Signal{ID: "broken", Owner: "o"} // no condition
	e := New([]*Signal{invalid, nil, valid})
	// Zero cooldown: fires on every event; defaults applied to the alert.
	alerts := append(e.Evaluate(view("e1", 0)), e.Evaluate(view("e2", time.Minute))...)
	if len(alerts) != 2 {
		t.Fatalf("got %d alerts, want 2", len(alerts))
	}
	if a := alerts[0]; a.SignalName != "hand" || a.Priority != "medium" || a.Message != "hand fired for customer:c-1" {
		t.Errorf("got %+v, want defaults applied", a)
	}
	if valid.Name != "" {
		t.Errorf("New modified the signal: name %q", valid.Name)
	}
}

func TestRetention(t *testing.T) {
	const h = time.Hour
	e := newestClock(New([]*Signal{threshold(t, "s", 2, "1h", "cooldown: 0s")}))

	// Kept: events after newest − 2·within. An event at or before that is ignored.
	fired(e, view("e1", 0), view("e2", 3*h))
	if got := fired(e, view("late", h), view("e3", 3*h+time.Minute)); !slices.Equal(got, []string{"s@e3"}) {
		t.Errorf("got alerts %v, want [s@e3]", got)
	}
	st := e.programs[0].states["customer:c-1"]
	var kept []string
	for _, r := range st.records {
		kept = append(kept, r.ev.EventID)
	}
	if want := []string{"e2", "e3"}; !slices.Equal(kept, want) {
		t.Errorf("got kept events %v, want %v", kept, want)
	}
	// Between newest − 2·within and newest − within: recorded, evaluated.
	if got := fired(e, view("e4", 3*h-90*time.Minute)); got != nil {
		t.Errorf("got alerts %v, want none", got)
	}
	if got := len(st.records); got != 3 {
		t.Errorf("got %d kept events, want 3", got)
	}

	// Idle subjects are dropped once the engine's time passes them by
	// 2·within + cooldown.
	fired(e, view("o1", 5*h, customer("c-2", "", "")))
	if got := e.Subjects(); got != 2 {
		t.Fatalf("got %d subjects, want 2", got)
	}
	fired(e, view("o2", 6*h, customer("c-2", "", "")))
	if got := e.Subjects(); got != 1 {
		t.Errorf("got %d subjects, want 1 (c-1 idle for 3h)", got)
	}
	// A subject coming back after expiry starts afresh.
	if got := fired(e, view("e5", 6*h)); got != nil {
		t.Errorf("got alerts %v, want none", got)
	}
}

func TestEvaluateNil(t *testing.T) {
	e := New([]*Signal{threshold(t, "s", 1, "1h")})
	if got := e.Evaluate(nil); got != nil {
		t.Errorf("got %v, want nil", got)
	}
}

// BenchmarkEvaluate runs 10 account-scoped thresholds, each watching its
// own URL, over page views of 10,000 accounts.
func BenchmarkEvaluate(b *testing.B) {
	const signals, subjects = 10, 10000
	var set []*Signal
	for i := range signals {
		doc := fmt.Sprintf("id: s%02d\nowner: o\nscope: account\nwhen:\n  threshold:\n    match: {type: page_view, url: '*/p%d*'}\n    count: 5\n    within: 7d\ncooldown: 1d\n", i, i)
		s, err := ParseSignal([]byte(doc))
		if err != nil {
			b.Fatal(err)
		}
		set = append(set, s)
	}
	events := make([]schema.Event, 100000)
	for i := range events {
		events[i] = schema.Event{
			Type:       schema.TypePageView,
			Time:       t0.Add(time.Duration(i) * time.Second),
			Customer:   schema.Customer{ID: fmt.Sprint("c-", i%subjects), AccountID: fmt.Sprint("a-", i%subjects)},
			Properties: map[string]any{"url": fmt.Sprintf("https://example.com/p%d/page", i%signals)},
		}
	}
	e := New(set)
	replay(b, e, events, time.Duration(len(events))*time.Second, 0)
	b.ReportMetric(float64(e.Subjects()), "subjects")
}

func TestRecentIDsForgetOldestFirst(t *testing.T) {
	// The hash set must agree with a plain model through growth, eviction
	// and the shifting of probe chains on removal.
	for _, limit := range []int{1, 7, 1000, 5000} {
		r := recentIDs{limit: limit, seed: maphash.MakeSeed()}
		var order []string // the model: ids oldest first, and as a set
		set := map[string]bool{}
		rng := rand.New(rand.NewPCG(uint64(limit), 1))
		for i := range 40_000 {
			id := fmt.Sprintf("e%d", rng.IntN(3*limit+5))
			if i%97 == 0 {
				id = ""
			}
			want := set[id]
			got, _ := r.seen(id)
			if got != want {
				t.Fatalf("limit %d, step %d: seen(%q) = %v, want %v", limit, i, id, got, want)
			}
			if id != "" && !want {
				order, set[id] = append(order, id), true
				if len(order) > limit {
					delete(set, order[0])
					order = order[1:]
				}
			}
		}
	}
}
