package detector

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// newestClock makes e's watermark W the newest event time it has seen (a
// clock window of one event), so that a test can move W with single
// events; the retention rules given W are the same.
func newestClock(e *Engine) *Engine {
	e.clock = clock{size: 1}
	return e
}

// timed is an event of a scenario, at an offset from the scenario's base.
type timed struct {
	id   string
	at   time.Duration
	opts []func(*schema.Event)
}

func ev(id string, at time.Duration, opts ...func(*schema.Event)) timed { return timed{id, at, opts} }

// TestTimeEdges runs each construct's scenario at a usual time and at both
// ends of the int64 nanosecond range (the first events at the earliest
// time, or the last ones at the latest), with windows, cooldowns and
// half-lives of the longest allowed: the alerts must be the same
// everywhere, and the ones the rules say.
func TestTimeEdges(t *testing.T) {
	const m, h = time.Minute, time.Hour
	pricing := withURL("https://example.com/pricing")
	blog := withURL("https://example.com/blog")
	signup, support, form := ofType("webinar_signup"), ofType("support_email"), ofType("form_submit")
	filler := make([]timed, 40) // moves the engine's clock to 3h
	for i := range filler {
		filler[i] = ev(fmt.Sprint("f", i), 3*h, form, customer("c-2", "", ""))
	}
	tests := []struct {
		name   string
		signal string
		events []timed
		want   []string // event: message
	}{
		{"threshold of two at one time", `
when: {threshold: {match: {type: page_view}, count: 2, within: 400d}}
cooldown: 0s
message: "{{.Count}}"`, []timed{
			ev("a", 0), ev("b", 0), ev("c", 400*day), ev("d", 400*day), ev("late", 1),
		}, []string{"b: 2", "d: 2", "late: 3"}},
		{"threshold, distinct", `
when: {threshold: {match: {type: page_view}, count: 2, within: 400d, distinct: properties.url}}
cooldown: 0s
message: "{{.Count}}"`, []timed{
			ev("a", 0), ev("b", 0), ev("c", 400*day-1, blog), ev("d", 400*day, blog), ev("e", 400*day),
		}, []string{"c: 2", "e: 2"}},
		{"threshold, min_people", `
scope: account
min_people: 2
when: {threshold: {match: {type: page_view}, count: 2, within: 400d}}
cooldown: 0s
message: "{{.Count}} {{.People}}"`, []timed{
			ev("a", 0, customer("c-1", "acme", "")), ev("b", 0, customer("c-1", "acme", "")),
			ev("c", 400*day-1, customer("c-2", "acme", "")), ev("d", 400*day, customer("c-2", "acme", "")),
		}, []string{"c: 3 2"}},
		{"sequence with an absent step", `
when:
  sequence:
    steps: [{type: webinar_signup}, {type: page_view, url: "*/pricing*"}]
    absent: {type: support_email}
    within: 400d
cooldown: 0s
message: "{{.Count}}"`, []timed{
			ev("s1", 0, signup), ev("p1", 0, pricing), ev("x", 1, support), ev("p2", 400*day-1, pricing),
			ev("s2", 400*day, signup), ev("p3", 400*day, pricing), ev("p4", 800*day, pricing),
		}, []string{"p1: 2", "p3: 2"}},
		{"score with decay", `
when:
  score:
    rules: [{match: {type: page_view, url: "*/pricing*"}, points: 8}]
    half_life: 90d
    level: 10
cooldown: 0s
message: "{{.Score}}"`, []timed{
			ev("p1", 0, pricing), ev("p2", 90*day, pricing), ev("p3", 270*day, pricing), ev("p4", 270*day, pricing),
			ev("p5", 450*day, pricing),
		}, []string{"p2: 12", "p3: 11", "p5: 12.75"}},
		{"score with the default cooldown", `
when:
  score:
    rules: [{match: {type: page_view, url: "*/pricing*"}, points: 8}]
    half_life: 90d
    level: 10
message: "{{.Score}}"`, []timed{
			ev("p1", 0, pricing), ev("p2", 0, pricing), ev("p3", 90*day-1, pricing), ev("p4", 400*day, pricing),
			ev("p5", 400*day, pricing),
		}, []string{"p2: 16", "p5: 17.4697344922756"}},
		{"cooldown of the longest", `
when: {threshold: {match: {type: page_view}, count: 1, within: 1h}}
cooldown: 400d`, []timed{
			ev("a", 0), ev("b", 400*day-1), ev("c", 400*day), ev("d", 800*day),
		}, []string{"a: s fired for customer:c-1", "c: s fired for customer:c-1", "d: s fired for customer:c-1"}},
		{"identity merge", `
when: {threshold: {match: {type: page_view}, count: 2, within: 400d}}
cooldown: 0s
message: "{{.Customer}} {{.Count}}"`, []timed{
			ev("v", 0, anonymous("a-1")), ev("i", 400*day-1, known("c-1", "a-1", "", "")), ev("e", 400*day),
		}, []string{"i: c-1 2", "e: c-1 2"}},
		{"forgetting", `
when: {threshold: {match: {type: page_view}, count: 2, within: 1h}}
cooldown: 0s`, append(append([]timed{ev("a", 0)}, filler...),
			ev("late", 30*m), ev("b", 3*h+m), ev("c", 3*h+2*m)),
			[]string{"c: s fired for customer:c-1"}},
	}
	for _, tc := range tests {
		s := mustParse(t, "id: s\nowner: o"+tc.signal)
		span := time.Duration(0)
		for _, e := range tc.events {
			span = max(span, e.at)
		}
		bases := []struct {
			name string
			at   int64
		}{
			{"usual", t0.UnixNano()},
			{"earliest", math.MinInt64},
			{"earliest+1ns", math.MinInt64 + 1},
			{"near the earliest", math.MinInt64 + int64(time.Hour)},
			{"near the latest", math.MaxInt64 - int64(span) - int64(time.Hour)},
			{"latest-1ns", math.MaxInt64 - int64(span) - 1},
			{"latest", math.MaxInt64 - int64(span)},
		}
		for _, b := range bases {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				e := New([]*Signal{s})
				var got []string
				for _, te := range tc.events {
					x := view(te.id, 0, te.opts...)
					x.Time = time.Unix(0, b.at+int64(te.at))
					for _, a := range e.Evaluate(x) {
						if !a.Time.Equal(x.Time) {
							t.Errorf("alert at %v for an event at %v", a.Time, x.Time)
						}
						got = append(got, a.EventID+": "+a.Message)
					}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("got alerts %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// farFutureSignals are one signal of each kind.
var farFutureSignals = []string{`
id: views
owner: m
when: {threshold: {match: {type: page_view}, count: 2, within: 1h}}
cooldown: 0s
`, `
id: seq
owner: m
when:
  sequence:
    steps: [{type: webinar_signup}, {type: page_view}]
    within: 1h
cooldown: 0s
`, `
id: heat
owner: m
when:
  score:
    rules: [{match: {type: page_view, url: "*/pricing*"}, points: 6}]
    half_life: 1h
    level: 10
cooldown: 0s
`}

// farFutureStream is a partition's events in time order, a minute apart,
// with far-future events (a tracker with a wrong clock) for c-1, whose
// events go on after them, and for c-9 at position at. (c-1's page view is
// not on the pricing page: by the score's rules, a far-future scoring
// event re-arms its subject, since the score then is below the level.)
func farFutureStream(at int) (events, outliers []*schema.Event) {
	for i := range 120 {
		if i == at {
			outliers = []*schema.Event{
				view("future-1", 0, customer("c-1", "", ""), withURL("https://example.com/blog")),
				view("future-2", 0, customer("c-9", "", "")),
				view("future-3", 0, customer("c-1", "", ""), ofType("webinar_signup")),
			}
			outliers[0].Time = time.Unix(0, math.MaxInt64)
			outliers[1].Time = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
			outliers[2].Time = time.Unix(0, math.MaxInt64-1)
			events = append(events, outliers...)
		}
		typ := schema.TypePageView
		if i%3 == 0 {
			typ = "webinar_signup"
		}
		c := fmt.Sprint("c-", i%4)
		events = append(events, view(fmt.Sprint("e", i), time.Duration(i)*time.Minute, customer(c, "", ""), ofType(typ)))
	}
	return events, outliers
}

// TestFarFutureEventDoesNotBlindThePartition: events dated far in the
// future, one of them of a subject whose events go on, change none of the
// alerts of the partition's later events, with or without a restart from
// a checkpoint taken right after them.
func TestFarFutureEventDoesNotBlindThePartition(t *testing.T) {
	signals := parseAll(t, farFutureSignals)
	const at = 60
	events, outliers := farFutureStream(at)
	var clean []*schema.Event
	for _, e := range events {
		if !slices.Contains(outliers, e) {
			clean = append(clean, e)
		}
	}
	want := alertKeys(alertsOf(New(signals), clean...))
	if len(want) < 20 {
		t.Fatalf("got %d alerts without far-future events, want a test that fires", len(want))
	}
	withoutOutliers := func(alerts []schema.Alert) []string {
		var keys []string
		for _, k := range alertKeys(alerts) {
			if !strings.Contains(k, "/future-") {
				keys = append(keys, k)
			}
		}
		return keys
	}
	if got := withoutOutliers(alertsOf(New(signals), events...)); !slices.Equal(got, want) {
		t.Errorf("with far-future events:\ngot  %v\nwant %v", got, want)
	}

	// A restart right after the far-future events.
	cut := at + len(outliers)
	a := New(signals)
	before := alertsOf(a, events[:cut]...)
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := New(signals)
	if err := b.RestoreSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if got := withoutOutliers(append(before, alertsOf(b, events[cut:]...)...)); !slices.Equal(got, want) {
		t.Errorf("restored after far-future events:\ngot  %v\nwant %v", got, want)
	}
}

// oldSnapEngine is the snapshot layout before the engine's clock: what
// checkpoints written by earlier builds hold.
type oldSnapEngine struct {
	Version   int
	Watermark time.Time
	NextSweep time.Time
	Recent    []string
	RecentAt  int
	Links     []snapLink
	LinksAt   int
	Programs  []snapProgram
}

// TestCheckpointWithAbsurdWatermarkHeals: a checkpoint of an earlier build
// whose watermark and planned sweeps one far-future event set to 2262
// restores into an engine whose later events fire as if it never had.
func TestCheckpointWithAbsurdWatermarkHeals(t *testing.T) {
	signals := parseAll(t, farFutureSignals)
	const at = 60
	events, outliers := farFutureStream(at)
	cut := at + len(outliers)
	a := New(signals)
	alertsOf(a, events[:cut]...)
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var old oldSnapEngine
	if err := gob.NewDecoder(bytes.NewReader(snap)).Decode(&old); err != nil {
		t.Fatal(err)
	}
	absurd := time.Unix(0, math.MaxInt64)
	old.Watermark, old.NextSweep = absurd, absurd.Add(time.Hour)
	for i := range old.Programs {
		old.Programs[i].NextSweep = absurd.Add(time.Hour)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&old); err != nil {
		t.Fatal(err)
	}

	// The same engine without the absurd watermark, for reference.
	ref := New(signals)
	if err := ref.RestoreSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	want := alertKeys(alertsOf(ref, events[cut:]...))
	if len(want) < 10 {
		t.Fatalf("got %d alerts, want a test that fires", len(want))
	}
	b := New(signals)
	if err := b.RestoreSnapshot(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got := alertKeys(alertsOf(b, events[cut:]...)); !slices.Equal(got, want) {
		t.Errorf("restored from an absurd watermark:\ngot  %v\nwant %v", got, want)
	}
	// And it still forgets idle subjects: c-0…c-3 are idle for longer than
	// 2h + cooldown, and their scores below a thousandth of the level.
	tail := make([]*schema.Event, 2*clockWindow)
	for i := range tail {
		tail[i] = view(fmt.Sprint("t", i), 24*time.Hour, customer("c-5", "", ""), ofType("form_submit"))
	}
	alertsOf(b, tail...)
	for _, p := range b.programs {
		for subject := range p.states {
			if subject != "customer:c-1" && subject != "customer:c-9" {
				t.Errorf("%s: %s is kept after 22h idle", p.sig.ID, subject)
			}
		}
	}
}

func TestClock(t *testing.T) {
	e := New(nil)
	step := func(n int, at int64) {
		for range n {
			e.Evaluate(&schema.Event{Type: "x", Time: time.Unix(0, at)})
		}
	}
	step(clockWindow-1, 100)
	if e.watermark != math.MinInt64 {
		t.Errorf("got W %d before a block is complete, want the earliest time", e.watermark)
	}
	step(1, 100)
	if e.watermark != 100 {
		t.Errorf("got W %d, want 100", e.watermark)
	}
	// Half a block far in the future does not move it; more does.
	step(clockWindow/2, math.MaxInt64)
	step(clockWindow/2, 200)
	if e.watermark != 200 {
		t.Errorf("got W %d after a block half far-future, want 200", e.watermark)
	}
	step(clockWindow/2+1, math.MaxInt64)
	step(clockWindow/2-1, 300)
	if e.watermark != math.MaxInt64 {
		t.Errorf("got W %d after a block mostly far-future, want the latest time", e.watermark)
	}
	// It never moves back.
	step(clockWindow, 50)
	if e.watermark != math.MaxInt64 {
		t.Errorf("got W %d, want it kept", e.watermark)
	}

	// Every other event far ahead: W is the newest of the others.
	e = New(nil)
	for i := range 10 * clockWindow {
		at := int64(i)
		if i%2 == 1 {
			at = math.MaxInt64 - int64(i)
		}
		step(1, at)
	}
	if want := int64(10*clockWindow - 2); e.watermark != want {
		t.Errorf("got W %d with every other event far ahead, want %d", e.watermark, want)
	}
	// In time order: the median of the last complete block.
	e = New(nil)
	for i := range 100 {
		step(1, int64(i))
	}
	if want := int64(2*clockWindow + (clockWindow-1)/2); e.watermark != want {
		t.Errorf("got W %d in time order, want %d", e.watermark, want)
	}
	// A snapshot keeps the block and W.
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New(nil)
	if err := r.RestoreSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.clock.times(), e.clock.times()) || len(r.clock.times()) != 100-3*clockWindow || r.watermark != e.watermark {
		t.Errorf("restored clock %v W %d, want %v W %d", r.clock.times(), r.watermark, e.clock.times(), e.watermark)
	}
}
