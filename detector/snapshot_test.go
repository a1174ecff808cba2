package detector

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

var snapshotSignals = []string{`
id: pricing
owner: m
scope: account
when: {threshold: {match: {type: page_view, url: "*/pricing*"}, count: 3, within: 1h, distinct: properties.url}}
cooldown: 2h
`, `
id: surge
owner: m
scope: account
min_people: 2
when: {threshold: {match: {type: page_view}, count: 4, within: 2h}}
cooldown: 0s
`, `
id: webinar-then-pricing
owner: m
when:
  sequence:
    steps:
      - {type: webinar_signup}
      - {type: page_view, url: "*/pricing*"}
    within: 3h
    absent: {type: support_email}
`, `
id: heat
owner: m
when:
  score:
    rules:
      - {match: {type: page_view}, points: 10}
      - {match: {type: form_submit}, points: 30}
    half_life: 1h
    level: 50
`, `
id: quiet
owner: m
scope: account
when:
  silence:
    after: {type: webinar_signup}
    expect: [{type: form_submit}, {type: page_view, url: "*/pricing/1"}]
    within: 2h
cooldown: 30m
`, `
id: spike
owner: m
scope: account
when: {change: {match: {type: page_view, url: "*/pricing*"}, period: 30m, baseline: 3, rise: 2}}
cooldown: 20m
`, `
id: slump
owner: m
scope: account
when: {change: {match: {type: page_view}, period: 30m, baseline: 2, fall: 0.5}}
cooldown: 0s
`}

func parseAll(t testing.TB, srcs []string) []*Signal {
	t.Helper()
	var out []*Signal
	for _, src := range srcs {
		s, err := ParseSignal([]byte(src))
		if err != nil {
			t.Fatalf("%v\n%s", err, src)
		}
		s.Version = 1
		out = append(out, s)
	}
	return out
}

func randomEvents(rng *rand.Rand, n int) []schema.Event {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out []schema.Event
	for i := range n {
		if i > 0 && rng.IntN(30) == 0 {
			out = append(out, out[rng.IntN(len(out))]) // a duplicate
			continue
		}
		acct := fmt.Sprintf("a%d", rng.IntN(8))
		ev := schema.Event{
			ID:   fmt.Sprintf("e%d", i),
			Time: base.Add(time.Duration(i)*3*time.Minute - time.Duration(rng.IntN(20))*time.Minute),
			Customer: schema.Customer{
				ID: fmt.Sprintf("%s-c%d", acct, rng.IntN(3)), AccountID: acct,
			},
		}
		if rng.IntN(5) == 0 {
			// anonymous, sometimes identified later
			ev.Customer = schema.Customer{AnonymousID: fmt.Sprintf("anon-%d", rng.IntN(10))}
			if rng.IntN(4) == 0 {
				ev.Customer.ID, ev.Customer.AccountID = fmt.Sprintf("a%d-c9", rng.IntN(8)), fmt.Sprintf("a%d", rng.IntN(8))
			}
		}
		switch r := rng.IntN(10); {
		case r < 4:
			ev.Type, ev.Properties = "page_view", map[string]any{"url": fmt.Sprintf("https://x/pricing/%d", rng.IntN(4))}
		case r < 6:
			ev.Type, ev.Properties = "page_view", map[string]any{"url": "https://x/blog"}
		case r < 7:
			ev.Type = "webinar_signup"
		case r < 8:
			ev.Type = "support_email"
		default:
			ev.Type = "form_submit"
		}
		out = append(out, ev)
	}
	return out
}

func evaluateAll(e *Engine, events []schema.Event) []schema.Alert {
	var out []schema.Alert
	for i := range events {
		ev := events[i] // Evaluate may fill identity into its own copy
		out = append(out, e.Evaluate(&ev)...)
	}
	return out
}

func TestSnapshotRestoreContinuesExactly(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		events := randomEvents(rng, 3000)
		sigs := parseAll(t, snapshotSignals)

		whole := New(sigs)
		all := evaluateAll(whole, events)

		cut := 1000 + rng.IntN(1000)
		first := New(sigs)
		before := evaluateAll(first, events[:cut])
		data, err := first.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored := New(sigs)
		if err := restored.RestoreSnapshot(data); err != nil {
			t.Fatal(err)
		}
		if restored.Subjects() != first.Subjects() {
			t.Errorf("seed %d: restored %d subject states, had %d", seed, restored.Subjects(), first.Subjects())
		}
		after := evaluateAll(restored, events[cut:])
		got := append(before, after...)
		if len(all) == 0 {
			t.Fatalf("seed %d: the test's events fired nothing; it tests nothing", seed)
		}
		if !reflect.DeepEqual(ids(got), ids(all)) {
			t.Errorf("seed %d, cut at %d: with a restore %d alerts, without %d\nfirst differing: %v", seed, cut, len(got), len(all), firstDiff(ids(got), ids(all)))
		}
	}
}

func ids(as []schema.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%s %s %s %d", a.SignalID, a.Subject, a.EventID, a.Count)
	}
	return out
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " vs " + b[i]
		}
	}
	return "one is a prefix of the other"
}

func TestRestoreDropsStateOfChangedSignals(t *testing.T) {
	sigs := parseAll(t, snapshotSignals[:1])
	e := New(sigs)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 2 {
		e.Evaluate(&schema.Event{ID: fmt.Sprint(i), Type: "page_view", Time: at, Customer: schema.Customer{ID: "c", AccountID: "a"},
			Properties: map[string]any{"url": fmt.Sprintf("https://x/pricing/%d", i)}})
	}
	data, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	same := New(sigs)
	if err := same.RestoreSnapshot(data); err != nil || same.Subjects() != 1 {
		t.Fatalf("same signals: %d subjects, %v; want 1", same.Subjects(), err)
	}
	changed := parseAll(t, snapshotSignals[:1])
	changed[0].Version = 2
	other := New(changed)
	if err := other.RestoreSnapshot(data); err != nil || other.Subjects() != 0 {
		t.Fatalf("changed signal: %d subjects, %v; want its state dropped", other.Subjects(), err)
	}
	if err := other.RestoreSnapshot([]byte("garbage")); err == nil {
		t.Fatal("restoring garbage must fail")
	}
}
