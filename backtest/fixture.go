package backtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// Fixture is a test case for signals: events in, exactly the expected
// alerts out, in order. It is written as YAML:
//
//	signals: [../pricing-research.yaml]      # signal files, relative to the fixture
//	events:                                  # in partition order; the Kafka event envelope
//	  - {id: e1, type: page_view, time: "2026-11-23T07:00:00Z", customer: {id: c1, account_id: acme, lifecycle: prospect}, properties: {url: "https://dowser.example/pricing"}}
//	expect:                                  # exactly these alerts, in order
//	  - {signal: pricing-research, subject: "account:acme", event_id: e3}
//
// An item of signals may also be a signal definition written inline. An
// expected alert may add count and message, which are then compared too.
// Leaving expect out expects no alert.
type Fixture struct {
	// Path is the fixture file.
	Path string
	// SignalFiles are the signal files the fixture names, each joined to
	// the fixture's folder.
	SignalFiles []string
	// Signals are the signals under test, with Version 1.
	Signals []*detector.Signal
	// Events are the fixture's events, validated like Kafka events.
	Events []schema.Event
	// Expect are the alerts expected, in order.
	Expect []Expected
}

// Expected is one expected alert. Signal, Subject and EventID are
// required; Count and Message are compared only when given.
type Expected struct {
	Signal  string  `yaml:"signal"`
	Subject string  `yaml:"subject"`
	EventID string  `yaml:"event_id"`
	Count   *int    `yaml:"count,omitempty"`
	Message *string `yaml:"message,omitempty"`
}

// String is "signal subject at event_id".
func (e Expected) String() string {
	return fmt.Sprintf("%s %s at %s", e.Signal, e.Subject, e.EventID)
}

// fixtureDoc is the YAML form of a Fixture.
type fixtureDoc struct {
	Signals []yaml.Node `yaml:"signals"`
	Events  []yaml.Node `yaml:"events"`
	Expect  []Expected  `yaml:"expect"`
}

// LoadFixture reads and checks a fixture file: its signals must lint clean,
// every event must pass [schema.ParseEvent] (each event is converted to
// JSON first, exactly as a Kafka message would be written), and every
// expected alert must name its signal, subject and event. The error lists
// every problem found, each naming the fixture and the signals[i],
// events[i] or expect[i] it is about.
func LoadFixture(path string) (*Fixture, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading fixture: %w", err)
	}
	var doc fixtureDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// A misspelt key would otherwise silently compare nothing.
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	f := &Fixture{Path: path, Expect: doc.Expect}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}

	if len(doc.Signals) == 0 {
		fail("signals: at least one signal file is required")
	}
	var l linter
	for i := range doc.Signals {
		n := &doc.Signals[i]
		switch {
		case n.Kind == yaml.ScalarNode && n.Value != "":
			file := filepath.Join(filepath.Dir(path), n.Value)
			f.SignalFiles = append(f.SignalFiles, file)
			src, err := os.ReadFile(file)
			if err != nil {
				fail("signals[%d] (line %d): %v", i, n.Line, err)
				continue
			}
			l.source(file, src)
		case n.Kind == yaml.MappingNode:
			src, err := yaml.Marshal(n)
			if err != nil {
				fail("signals[%d] (line %d): %v", i, n.Line, err)
				continue
			}
			l.source(fmt.Sprintf("%s: signals[%d] (line %d)", path, i, n.Line), src)
		default:
			fail("signals[%d] (line %d): must be a file name or a signal definition", i, n.Line)
		}
	}
	for _, p := range l.problems {
		errs = append(errs, errors.New(p.String()))
	}
	f.Signals = l.signals

	if len(doc.Events) == 0 {
		fail("events: at least one event is required")
	}
	for i := range doc.Events {
		ev, err := fixtureEvent(&doc.Events[i])
		if err != nil {
			fail("events[%d] (line %d): %v", i, doc.Events[i].Line, err)
			continue
		}
		f.Events = append(f.Events, ev)
	}

	for i, e := range doc.Expect {
		var missing []string
		for _, fld := range []struct{ name, value string }{{"signal", e.Signal}, {"subject", e.Subject}, {"event_id", e.EventID}} {
			if fld.value == "" {
				missing = append(missing, fld.name)
			}
		}
		if len(missing) > 0 {
			fail("expect[%d]: %s required", i, strings.Join(missing, ", "))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f, nil
}

// fixtureEvent converts one YAML event to JSON and validates it with the
// rules of the events topic.
func fixtureEvent(n *yaml.Node) (schema.Event, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return schema.Event{}, err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return schema.Event{}, fmt.Errorf("converting to JSON: %w", err)
	}
	return schema.ParseEvent(b, 0)
}

// jsonable turns the map[any]any that YAML gives for mappings with
// non-string keys into map[string]any, which JSON can encode.
func jsonable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = jsonable(x)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		for i, x := range v {
			v[i] = jsonable(x)
		}
		return v
	}
	return v
}

// Result is the outcome of running a fixture.
type Result struct {
	// Fixture is the fixture's path.
	Fixture string
	// Events is the number of events run.
	Events int
	// Alerts are the alerts that fired, in order.
	Alerts []schema.Alert
	// Missing are expected alerts that did not fire.
	Missing []Expected
	// Unexpected are alerts that fired but were not expected.
	Unexpected []schema.Alert
	// Mismatched are expected alerts that fired with another count or
	// message than the one expected.
	Mismatched []Mismatch

	lines []diffLine
}

// Mismatch is an expected alert that fired with other details.
type Mismatch struct {
	Want Expected
	Got  schema.Alert
	// Details say what differs: `count: want 2, got 3`.
	Details []string
}

// diffLine is one line of the aligned comparison.
type diffLine struct {
	op   byte // ' ' as expected, '-' missing, '+' unexpected, '~' differs
	text string
}

// OK reports whether exactly the expected alerts fired, in order.
func (r *Result) OK() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Mismatched) == 0
}

// Diff returns a readable comparison of the expected and the fired alerts,
// one per line in order: "  " as expected, "- " missing, "+ " unexpected,
// "~ " fired with other details. It is empty when r is OK.
func (r *Result) Diff() string {
	if r.OK() {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "alerts of %d events (- missing, + unexpected, ~ differs):\n", r.Events)
	for _, l := range r.lines {
		fmt.Fprintf(&b, "  %c %s\n", l.op, l.text)
	}
	return b.String()
}

// Run evaluates every event of the fixture, in order, with one engine over
// all of its signals (as one partition of the live service would), and
// compares the alerts with the expected ones. The end of the events ends
// the input as [Runner.Finish] does: silences whose wait ended before the
// newest event fire then. Run does not modify f and may be called again.
func (f *Fixture) Run() *Result {
	engine := detector.New(f.Signals)
	r := &Result{Fixture: f.Path, Events: len(f.Events)}
	var newest time.Time
	for i := range f.Events {
		ev := f.Events[i]
		if ev.Time.After(newest) {
			newest = ev.Time
		}
		r.Alerts = append(r.Alerts, engine.Evaluate(&ev)...)
	}
	if len(f.Events) > 0 {
		r.Alerts = append(r.Alerts, engine.Advance(newest)...)
	}
	r.compare(f.Expect)
	return r
}

func alertKey(a *schema.Alert) Expected {
	return Expected{Signal: a.SignalID, Subject: a.Subject, EventID: a.EventID}
}

func describeAlert(a *schema.Alert) string {
	return fmt.Sprintf("%s  (count %d: %q)", alertKey(a), a.Count, a.Message)
}

// compare aligns want and r.Alerts by their longest common subsequence of
// (signal, subject, event) keys, so that one missing alert shows as one
// line, not as a shift of everything after it.
func (r *Result) compare(want []Expected) {
	got := r.Alerts
	same := func(i, j int) bool {
		w, g := want[i], alertKey(&got[j])
		return w.Signal == g.Signal && w.Subject == g.Subject && w.EventID == g.EventID
	}
	// lcs[i][j] is the LCS length of want[i:] and got[j:].
	lcs := make([][]int, len(want)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(got)+1)
	}
	for i := len(want) - 1; i >= 0; i-- {
		for j := len(got) - 1; j >= 0; j-- {
			if same(i, j) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case i < len(want) && j < len(got) && same(i, j):
			if details := differences(want[i], &got[j]); len(details) > 0 {
				r.Mismatched = append(r.Mismatched, Mismatch{Want: want[i], Got: got[j], Details: details})
				r.lines = append(r.lines, diffLine{'~', want[i].String() + ": " + strings.Join(details, "; ")})
			} else {
				r.lines = append(r.lines, diffLine{' ', want[i].String()})
			}
			i++
			j++
		case j < len(got) && (i == len(want) || lcs[i][j+1] > lcs[i+1][j]):
			r.Unexpected = append(r.Unexpected, got[j])
			r.lines = append(r.lines, diffLine{'+', describeAlert(&got[j])})
			j++
		default:
			r.Missing = append(r.Missing, want[i])
			r.lines = append(r.lines, diffLine{'-', want[i].String()})
			i++
		}
	}
}

// differences lists how an alert differs from the optional details of the
// expected one.
func differences(want Expected, got *schema.Alert) []string {
	var out []string
	if want.Count != nil && *want.Count != got.Count {
		out = append(out, fmt.Sprintf("count: want %d, got %d", *want.Count, got.Count))
	}
	if want.Message != nil && *want.Message != got.Message {
		out = append(out, fmt.Sprintf("message: want %q, got %q", *want.Message, got.Message))
	}
	return out
}
