package detector

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

const quietDoc = `
id: quiet
owner: mkt-jane
scope: %s
when:
  silence:
    after: {type: webinar_attended}
    expect:
      - {type: page_view, url: "*/pricing*"}
      - {type: email_reply}
    within: 3d
%s`

func quiet(t testing.TB, scope string, extra ...string) *Signal {
	t.Helper()
	s := mustParse(t, fmt.Sprintf(quietDoc, scope, strings.Join(extra, "\n")))
	s.Version = 1
	return s
}

// sstep is one step of a silence test: an event, Advance, or W moved by
// events (32 events of another subject at t0+w).
type sstep struct {
	ev  *schema.Event
	adv time.Duration
	w   time.Duration
}

func attended(id string, at time.Duration, opts ...func(*schema.Event)) sstep {
	return sstep{ev: view(id, at, append([]func(*schema.Event){ofType("webinar_attended")}, opts...)...)}
}

func pricing(id string, at time.Duration, opts ...func(*schema.Event)) sstep {
	return sstep{ev: view(id, at, opts...)}
}

func advance(d time.Duration) sstep { return sstep{adv: d} }
func moveW(d time.Duration) sstep   { return sstep{w: d} }

// runSilence runs steps and returns, per step, "signal@event@time" for
// each alert it gave, joined by spaces ("" for none).
func runSilence(e *Engine, steps []sstep) []string {
	out := make([]string, len(steps))
	filler := 0
	for i, s := range steps {
		var alerts []schema.Alert
		switch {
		case s.ev != nil:
			alerts = e.Evaluate(s.ev)
		case s.w != 0:
			for range clockWindow {
				filler++
				alerts = append(alerts, e.Evaluate(&schema.Event{ID: fmt.Sprintf("fill-%d", filler), Type: "noise",
					Time: t0.Add(s.w), Customer: schema.Customer{ID: "filler"}})...)
			}
		default:
			alerts = e.Advance(t0.Add(s.adv))
		}
		var parts []string
		for _, a := range alerts {
			parts = append(parts, fmt.Sprintf("%s@%s@%s", a.SignalID, a.EventID, a.Time.Sub(t0)))
		}
		out[i] = strings.Join(parts, " ")
	}
	return out
}

func TestSilence(t *testing.T) {
	const (
		h = time.Hour
		d = 24 * h
	)
	c2 := customer("c-2", "", "")
	tests := []struct {
		name  string
		scope string
		extra []string
		steps []sstep
		want  []string // per step
	}{
		{"fires once W passes the deadline", "customer", nil,
			[]sstep{attended("a1", 0), advance(3 * d), advance(3*d + 1), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s", ""}},
		{"an expect event ends the wait", "customer", nil,
			[]sstep{attended("a1", 0), pricing("p1", d), advance(10 * d)},
			[]string{"", "", ""}},
		{"any of the expect matches", "customer", nil,
			[]sstep{attended("a1", 0), pricing("r1", d, ofType("email_reply")), advance(10 * d)},
			[]string{"", "", ""}},
		{"a page view that is not pricing does not", "customer", nil,
			[]sstep{attended("a1", 0), pricing("b1", d, withURL("https://example.com/blog")), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"expect at the deadline ends it", "customer", nil,
			[]sstep{attended("a1", 0), pricing("p1", 3*d), advance(10 * d)},
			[]string{"", "", ""}},
		{"expect a nanosecond after the deadline does not", "customer", nil,
			[]sstep{attended("a1", 0), pricing("p1", 3*d+1), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"expect before the trigger does not", "customer", nil,
			[]sstep{pricing("p1", -h), attended("a1", 0), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"expect at the trigger's time, arrived before it, does not", "customer", nil,
			[]sstep{pricing("p1", 0), attended("a1", 0), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"expect at the trigger's time, arrived after it, does", "customer", nil,
			[]sstep{attended("a1", 0), pricing("p1", 0), advance(10 * d)},
			[]string{"", "", ""}},
		{"another customer's expect does not", "customer", nil,
			[]sstep{attended("a1", 0), pricing("p1", d, c2), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"another person of the account does, with scope account", "account", nil,
			[]sstep{attended("a1", 0, customer("c-1", "acme", "")), pricing("p1", d, customer("c-2", "acme", "")), advance(10 * d)},
			[]string{"", "", ""}},
		{"W moved by events fires it", "customer", nil,
			[]sstep{attended("a1", 0), moveW(3 * d), moveW(3*d + 1)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"an expect event that arrives after the alert changes nothing", "customer", nil,
			[]sstep{attended("a1", 0), advance(4 * d), pricing("p1", d), advance(10 * d)},
			[]string{"", "quiet@a1@72h0m0s", "", ""}},
		{"a late trigger past its deadline is decided on arrival", "customer", nil,
			[]sstep{advance(5 * d), attended("a1", d)},
			[]string{"", "quiet@a1@96h0m0s"}},
		{"a late trigger sees the expect events that came before it", "customer", nil,
			[]sstep{pricing("p1", 2*d), attended("a1", d), advance(10 * d)},
			[]string{"", "", ""}},
		{"a late trigger past its deadline, with an expect event known", "customer", nil,
			[]sstep{pricing("p1", 2*d), advance(5 * d), attended("a1", d)},
			[]string{"", "", ""}},
		{"the cooldown holds back a second trigger", "customer", nil,
			[]sstep{attended("a1", 0), attended("a2", h), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s"}},
		{"without a cooldown each trigger fires", "customer", []string{"cooldown: 0s"},
			[]sstep{attended("a1", 0), attended("a2", h), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s quiet@a2@73h0m0s"}},
		{"an expect event between two triggers ends the first only", "customer", []string{"cooldown: 0s"},
			[]sstep{attended("a1", 0), pricing("p1", h), attended("a2", 2*h), advance(10 * d)},
			[]string{"", "", "", "quiet@a2@74h0m0s"}},
		{"timers fire in deadline order", "customer", []string{"cooldown: 0s"},
			[]sstep{attended("a2", h), attended("a1", 0), advance(3*d + 30*time.Minute), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s", "quiet@a2@73h0m0s"}},
		{"several subjects fire in time order", "customer", nil,
			[]sstep{attended("b1", h, c2), attended("a1", 0), advance(10 * d)},
			[]string{"", "", "quiet@a1@72h0m0s quiet@b1@73h0m0s"}},
		{"outside the audience nothing starts", "customer", []string{"audience: customer"},
			[]sstep{attended("a1", 0), advance(10 * d)},
			[]string{"", ""}},
		{"W never moves back", "customer", nil,
			[]sstep{advance(10 * d), advance(d), attended("a1", 8*d), advance(9 * d)},
			[]string{"", "", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New([]*Signal{quiet(t, tt.scope, tt.extra...)})
			got := runSilence(e, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSilenceAlertFields(t *testing.T) {
	e := New([]*Signal{quiet(t, "account", `message: "{{.Account}} went quiet after {{(index .Evidence 0).Type}} ({{.Customer}}, {{.Count}})"`)})
	ev := view("a1", 0, ofType("webinar_attended"), customer("c-1", "acme", "prospect"))
	if got := e.Evaluate(ev); len(got) != 0 {
		t.Fatalf("the trigger fired at once: %v", got)
	}
	alerts := e.Advance(t0.Add(4 * 24 * time.Hour))
	if len(alerts) != 1 {
		t.Fatalf("got %d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	want := schema.Alert{
		ID: schema.AlertID("quiet", 1, "account:acme", "a1"), SignalID: "quiet", SignalVersion: 1, SignalName: "quiet",
		SignalOwner: "mkt-jane", Subject: "account:acme", CustomerID: "c-1", AccountID: "acme", Lifecycle: "prospect",
		Priority: schema.PriorityMedium, Message: "acme went quiet after webinar_attended (c-1, 1)", Count: 1,
		EventID: "a1", Time: t0.Add(3 * 24 * time.Hour),
	}
	gotEv := a.Evidence
	a.Evidence = nil
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	if len(gotEv) != 1 || gotEv[0].EventID != "a1" || gotEv[0].Type != "webinar_attended" {
		t.Errorf("evidence %+v, want the trigger", gotEv)
	}
}

// TestSilenceAcrossCheckpoints checkpoints an engine with a wait pending,
// restores it (every subject cold then), and expects the restored engine
// to fire the same alert once; a checkpoint taken after the alert must
// not fire it again, and replaying from the earlier one gives the same id.
func TestSilenceAcrossCheckpoints(t *testing.T) {
	const d = 24 * time.Hour
	sigs := []*Signal{quiet(t, "customer")}
	rng := rand.New(rand.NewPCG(1, 2))
	e := New(sigs)
	runSilence(e, []sstep{attended("a1", 0), attended("z1", 0, customer("c-2", "", "")), pricing("p2", d, customer("c-2", "", ""))})
	before := table{}
	meta := before.apply(e)

	r := restoreRows(t, rng, sigs, e, meta, before)
	if n, _ := r.ColdSubjects(); n != 2 {
		t.Fatalf("%d subjects cold after the restore, want 2", n)
	}
	want := []string{"", "quiet@a1@72h0m0s", ""}
	steps := []sstep{advance(3 * d), moveW(3*d + 1), advance(10 * d)}
	if got := runSilence(r, steps); !slices.Equal(got, want) {
		t.Errorf("restored: got %q, want %q", got, want)
	}
	if got := runSilence(e, steps); !slices.Equal(got, want) {
		t.Errorf("uninterrupted: got %q, want %q", got, want)
	}

	after := maps.Clone(before)
	meta2 := after.apply(r)
	r2 := restoreRows(t, rng, sigs, e, meta2, after)
	if got := runSilence(r2, []sstep{advance(20 * d), moveW(20 * d)}); got[0] != "" || got[1] != "" {
		t.Errorf("restored after the alert: fired again: %q", got)
	}

	// A replay from the checkpoint before the alert fires it again, with
	// the same id: storage keeps it once.
	r3 := restoreRows(t, rng, sigs, e, meta, before)
	a := r3.Advance(t0.Add(4 * d))
	if len(a) != 1 || a[0].ID != schema.AlertID("quiet", 1, "customer:c-1", "a1") {
		t.Errorf("replay: got %v", a)
	}
}

// TestSilenceWhileCold freezes a subject with a wait pending and expects
// its timer to fire on time, thawed by its due time, whether W moves by
// Advance or by other subjects' events.
func TestSilenceWhileCold(t *testing.T) {
	const d = 24 * time.Hour
	for _, by := range []string{"advance", "events"} {
		t.Run(by, func(t *testing.T) {
			e := New([]*Signal{quiet(t, "customer")})
			e.SetColdAfter(1)
			rows := table{}
			runSilence(e, []sstep{attended("a1", 0)})
			for range 3 {
				rows.apply(e)
			}
			if n, _ := e.ColdSubjects(); n != 1 {
				t.Fatalf("%d subjects cold, want 1", n)
			}
			if due := e.tier.rows.nextDue(); due > e.programs[0].fireAt(t0.UnixNano()) {
				t.Fatalf("the cold row is due at %v, after its deadline", time.Unix(0, due))
			}
			late, due := advance(3*d), advance(3*d+1)
			if by == "events" {
				late, due = moveW(3*d), moveW(3*d+1)
			}
			got := runSilence(e, []sstep{late, due, advance(10 * d)})
			want := []string{"", "quiet@a1@72h0m0s", ""}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			// The decided wait goes into the row: restored, it stays quiet.
			meta := rows.apply(e)
			r := restoreRows(t, rand.New(rand.NewPCG(3, 4)), []*Signal{quiet(t, "customer")}, e, meta, rows)
			if got := r.Advance(t0.Add(30 * d)); len(got) != 0 {
				t.Errorf("restored: fired again: %v", got)
			}
		})
	}
}

// TestSilenceIdentityMerge: an anonymous visitor's pending wait moves to
// the customer it turns out to be, and that customer's expect event ends
// it.
func TestSilenceIdentityMerge(t *testing.T) {
	const d = 24 * time.Hour
	anon := func(ev *schema.Event) { ev.Customer = schema.Customer{AnonymousID: "v-1"} }
	login := func(ev *schema.Event) { ev.Customer = schema.Customer{ID: "c-1", AnonymousID: "v-1"} }
	for _, expect := range []bool{false, true} {
		e := New([]*Signal{quiet(t, "customer")})
		steps := []sstep{attended("a1", 0, anon), pricing("l1", d, login, withURL("https://example.com/app"))}
		if expect {
			steps = append(steps, pricing("p1", 2*d))
		}
		steps = append(steps, advance(10*d))
		got := runSilence(e, steps)
		want := "quiet@a1@72h0m0s"
		if expect {
			want = ""
		}
		if got[len(got)-1] != want {
			t.Errorf("expect %v: got %q, want %q", expect, got, want)
		}
	}
}
