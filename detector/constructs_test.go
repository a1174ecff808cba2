package detector

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// props sets string, number or bool properties from key, value pairs; a
// value that parses as a number or bool is stored as one, as JSON would.
func props(kv ...string) func(*schema.Event) {
	return func(ev *schema.Event) {
		ev.Properties = map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			var v any = kv[i+1]
			if f, err := strconv.ParseFloat(kv[i+1], 64); err == nil {
				v = f
			} else if b, err := strconv.ParseBool(kv[i+1]); err == nil {
				v = b
			}
			ev.Properties[kv[i]] = v
		}
	}
}

// anonymous makes the event's customer the anonymous visitor anon.
func anonymous(anon string) func(*schema.Event) {
	return func(ev *schema.Event) { ev.Customer = schema.Customer{AnonymousID: anon} }
}

// known makes the event carry both a customer id and an anonymous id.
func known(id, anon, account, lifecycle string) func(*schema.Event) {
	return func(ev *schema.Event) {
		ev.Customer = schema.Customer{ID: id, AnonymousID: anon, AccountID: account, Lifecycle: lifecycle}
	}
}

// at returns a page view of c-1 at t0+d with options; a shorter name for
// the many events of these tests.
func at(id string, d time.Duration, opts ...func(*schema.Event)) *schema.Event {
	return view(id, d, opts...)
}

// alertsOf runs events through e and returns every alert.
func alertsOf(e *Engine, events ...*schema.Event) []schema.Alert {
	var all []schema.Alert
	for _, ev := range events {
		all = append(all, e.Evaluate(ev)...)
	}
	return all
}

func TestKeywords(t *testing.T) {
	s := mustParse(t, `id: k
owner: o
cooldown: 0s
when:
  threshold:
    match: {keywords: [cancel, "more seats", Competitor, "Kündigung", "e-mail"]}
    count: 1
    within: 1h
`)
	tests := []struct {
		name string
		opt  func(*schema.Event)
		want bool
	}{
		{"word in the subject, other case", props("subject", "We want to CANCEL our plan"), true},
		{"word inside a longer word", props("subject", "Cancellation policy?"), false},
		{"word at the very end", props("body", "please cancel"), true},
		{"phrase across spaces and punctuation", props("body", "need more   seats, please"), true},
		{"phrase across a full stop", props("body", "we need more. Seats!"), true},
		{"phrase with a missing word", props("subject", "more of our seats"), false},
		{"phrase across two properties", props("subject", "need more", "body", "seats for the team"), false},
		{"title", props("title", "Competitor comparison"), true},
		{"url is not searched", props("url", "https://example.com/cancel"), false},
		{"other properties are not searched", props("note", "cancel"), false},
		{"unicode lowercase", props("body", "KÜNDIGUNG des Vertrags"), true},
		{"keyword with punctuation", props("body", "send an E Mail"), true},
		{"a number is not text", props("subject", "42"), false},
		{"no properties", func(ev *schema.Event) { ev.Properties = nil }, false},
		{"singular is another word", props("subject", "more seat"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := len(New([]*Signal{s}).Evaluate(at("e1", 0, tc.opt))) == 1
			if got != tc.want {
				t.Errorf("got fired %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeywordsMany(t *testing.T) {
	var kws []string
	for i := range MaxKeywords {
		kws = append(kws, fmt.Sprintf("'word%d phrase'", i))
	}
	s := mustParse(t, "id: k\nowner: o\nwhen:\n  threshold:\n    match: {keywords: ["+strings.Join(kws, ", ")+"]}\n    count: 1\n    within: 1h\n")
	e := New([]*Signal{s})
	if got := fired(e, at("e1", 0, props("body", strings.Repeat("word999 ", 100)+"Word999 Phrase"))); !slices.Equal(got, []string{"k@e1"}) {
		t.Errorf("got %v, want the last keyword to match", got)
	}
}

func TestWhere(t *testing.T) {
	var list []string
	for i := range 50 {
		list = append(list, strconv.Itoa(i))
	}
	l := "[" + strings.Join(list, ",") + "]"
	tests := []struct {
		name  string
		where string
		event *schema.Event
		want  bool
	}{
		{"number property", "event.properties.seats > 10", at("e", 0, props("seats", "12")), true},
		{"number property below", "event.properties.seats > 10", at("e", 0, props("seats", "5")), false},
		{"missing property is no match", "event.properties.seats > 10", at("e", 0, props()), false},
		{"optional with default", `event.properties.?plan.orValue("") == "team"`, at("e", 0, props("plan", "team")), true},
		{"optional absent", `event.properties.?plan.orValue("") == "team"`, at("e", 0, props()), false},
		{"has", "has(event.properties.plan)", at("e", 0, props("plan", "x")), true},
		{"has absent", "has(event.properties.plan)", at("e", 0, props()), false},
		{"has on an empty field", "has(event.content_id)", at("e", 0), false},
		{"string function", `event.properties.url.endsWith("/pricing")`, at("e", 0), true},
		{"strings extension", `event.properties.title.lowerAscii() == "pricing"`, at("e", 0), true},
		{"unknown lifecycle is prospect", `event.customer.lifecycle == "prospect"`, at("e", 0), true},
		{"account", `event.customer.account_id == "acme"`, at("e", 0, customer("c-1", "acme", "")), true},
		{"time", "event.time.getHours() == 7", at("e", 0), true},
		{"time comparison", `event.time >= timestamp("2026-11-23T08:00:00Z")`, at("e", 0), false},
		{"bool property", "event.properties.trial == true", at("e", 0, props("trial", "true")), true},
		{"comprehension within the cost limit", l + ".all(a, " + l + ".all(b, a + b >= 0))", at("e", 0), true},
		{"cost limit stops it", l + ".all(a, " + l + ".all(b, " + l + ".all(c, a + b + c >= 0)))", at("e", 0), false},
		{"whole object comparison is an error", "event.customer == event.customer", at("e", 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, fmt.Sprintf("id: w\nowner: o\nwhen:\n  threshold:\n    match: {where: %q}\n    count: 1\n    within: 1h\n", tc.where))
			got := len(New([]*Signal{s}).Evaluate(tc.event)) == 1
			if got != tc.want {
				t.Errorf("got fired %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNot(t *testing.T) {
	tests := []struct {
		name  string
		match string
		event *schema.Event
		want  bool
	}{
		{"excluded url", `{type: page_view, not: {url: "*/careers*"}}`, at("e", 0, withURL("https://example.com/careers")), false},
		{"other url", `{type: page_view, not: {url: "*/careers*"}}`, at("e", 0), true},
		{"not alone", `{not: {type: page_view}}`, at("e", 0, ofType("form_submit")), true},
		{"not alone excludes", `{not: {type: page_view}}`, at("e", 0), false},
		{"double negation", `{type: page_view, not: {not: {url: "*/pricing"}}}`, at("e", 0), true},
		{"not with keywords", `{type: page_view, not: {keywords: [jobs]}}`, at("e", 0, props("title", "Jobs at Dowser")), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, "id: n\nowner: o\nwhen:\n  threshold:\n    match: "+tc.match+"\n    count: 1\n    within: 1h\n")
			got := len(New([]*Signal{s}).Evaluate(tc.event)) == 1
			if got != tc.want {
				t.Errorf("got fired %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDistinct(t *testing.T) {
	const m = time.Minute
	page := func(p string) func(*schema.Event) { return withURL("https://example.com/" + p) }
	tests := []struct {
		name     string
		distinct string
		events   []*schema.Event
		want     []string
	}{
		{"same page thrice is one", "properties.url",
			[]*schema.Event{at("e1", 0, page("a")), at("e2", m, page("a")), at("e3", 2*m, page("a"))}, nil},
		{"three pages fire", "properties.url",
			[]*schema.Event{at("e1", 0, page("a")), at("e2", m, page("a")), at("e3", 2*m, page("b")), at("e4", 3*m, page("c"))}, []string{"d@e4"}},
		{"a page out of the window does not count", "properties.url",
			[]*schema.Event{at("e1", 0, page("a")), at("e2", time.Hour, page("b")), at("e3", time.Hour+m, page("c"))}, nil},
		{"empty values do not count", "content_id",
			[]*schema.Event{at("e1", 0, withContent("x")), at("e2", m), at("e3", 2*m, withContent("y")), at("e4", 3*m)}, nil},
		{"content ids", "content_id",
			[]*schema.Event{at("e1", 0, withContent("x")), at("e2", m, withContent("y")), at("e3", 2*m, withContent("z"))}, []string{"d@e3"}},
		{"number properties", "properties.n",
			[]*schema.Event{at("e1", 0, props("n", "1")), at("e2", m, props("n", "2")), at("e3", 2*m, props("n", "3"))}, []string{"d@e3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustParse(t, "id: d\nowner: o\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: 3\n    within: 1h\n    distinct: "+tc.distinct+"\n")
			if got := fired(New([]*Signal{s}), tc.events...); !slices.Equal(got, tc.want) {
				t.Errorf("got alerts %v, want %v", got, tc.want)
			}
		})
	}

	// The alert's count is the number of distinct values.
	s := mustParse(t, "id: d\nowner: o\nmessage: '{{.Count}}/{{.People}}'\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: 2\n    within: 1h\n    distinct: properties.url\n")
	a := alertsOf(New([]*Signal{s}), at("e1", 0, page("a")), at("e2", m, page("a")), at("e3", 2*m, page("b")))
	if len(a) != 1 || a[0].Count != 2 || a[0].Message != "2/1" || len(a[0].Evidence) != 3 {
		t.Errorf("got %+v, want one alert counting 2 distinct urls of 1 person with 3 events of evidence", a)
	}
}

func TestMinPeople(t *testing.T) {
	const h = time.Hour
	acme := func(id string) func(*schema.Event) { return customer(id, "acme", "") }
	s := mustParse(t, `id: surge
owner: o
scope: account
min_people: 3
message: "{{.People}} people at {{.Account}}, {{.Count}} views"
when:
  threshold:
    match: {type: page_view}
    count: 3
    within: 7d
`)
	tests := []struct {
		name   string
		events []*schema.Event
		want   []string
	}{
		{"three views of two people", []*schema.Event{at("e1", 0, acme("c-1")), at("e2", h, acme("c-1")), at("e3", 2*h, acme("c-2"))}, nil},
		{"the third person fires", []*schema.Event{at("e1", 0, acme("c-1")), at("e2", h, acme("c-1")), at("e3", 2*h, acme("c-2")), at("e4", 3*h, acme("c-3"))},
			[]string{"surge@e4"}},
		{"a person out of the window does not count", []*schema.Event{at("e1", 0, acme("c-1")), at("e2", 7*24*h, acme("c-2")), at("e3", 7*24*h+1, acme("c-3"))}, nil},
		{"an anonymous visitor of the account is a person", []*schema.Event{
			at("e1", 0, func(ev *schema.Event) { ev.Customer = schema.Customer{AnonymousID: "a-1", AccountID: "acme"} }),
			at("e2", h, acme("c-1")), at("e3", 2*h, acme("c-2"))}, []string{"surge@e3"}},
		{"an anonymous visitor identified as a counted person is not another", []*schema.Event{
			at("e1", 0, func(ev *schema.Event) { ev.Customer = schema.Customer{AnonymousID: "a-1", AccountID: "acme"} }),
			at("e2", h, acme("c-1")),
			at("id", 90*time.Minute, ofType("identify"), known("c-1", "a-1", "acme", "")),
			at("e3", 2*h, acme("c-2")),
			at("e4", 3*h, acme("c-3"))}, []string{"surge@e4"}},
		{"other accounts apart", []*schema.Event{at("e1", 0, acme("c-1")), at("e2", h, acme("c-2")), at("e3", 2*h, customer("c-3", "globex", ""))}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fired(New([]*Signal{s}), tc.events...); !slices.Equal(got, tc.want) {
				t.Errorf("got alerts %v, want %v", got, tc.want)
			}
		})
	}
	a := alertsOf(New([]*Signal{s}), at("e1", 0, acme("c-1")), at("e2", h, acme("c-2")), at("e3", 2*h, acme("c-3")), at("e4", 3*h, acme("c-1")))
	if len(a) != 1 || a[0].Message != "3 people at acme, 3 views" || a[0].Subject != "account:acme" {
		t.Errorf("got %+v, want one alert for account:acme saying 3 people, 3 views", a)
	}
}

// sequenceSignal is webinar signup then pricing view within 48h; extra
// lines are appended (top-level keys, or "    absent: ..." under sequence).
func sequenceSignal(t *testing.T, extra ...string) *Signal {
	return mustParse(t, `id: q
owner: o
when:
  sequence:
    steps:
      - {type: webinar_signup}
      - {type: page_view, url: "*/pricing*"}
    within: 48h
`+strings.Join(extra, "\n")+"\n")
}

func TestSequence(t *testing.T) {
	const h = time.Hour
	signup := func(id string, d time.Duration) *schema.Event { return at(id, d, ofType("webinar_signup")) }
	form := func(id string, d time.Duration) *schema.Event { return at(id, d, ofType("form_submit")) }
	pricing := func(id string, d time.Duration) *schema.Event { return at(id, d) }
	const absent = "    absent: {type: form_submit}"
	const noCooldown = "cooldown: 0s"
	tests := []struct {
		name   string
		extra  []string
		events []*schema.Event
		want   []string
	}{
		{"signup then pricing", nil, []*schema.Event{signup("s", 0), pricing("p", h)}, []string{"q@p"}},
		{"pricing then signup", nil, []*schema.Event{pricing("p", 0), signup("s", h)}, nil},
		{"pricing alone", nil, []*schema.Event{pricing("p", 0)}, nil},
		{"last step exactly within after the first is out", nil, []*schema.Event{signup("s", 0), pricing("p", 48*h)}, nil},
		{"last step within − 1ns after the first is in", nil, []*schema.Event{signup("s", 0), pricing("p", 48*h-1)}, []string{"q@p"}},
		{"same time counts in arrival order", nil, []*schema.Event{signup("s", h), pricing("p", h)}, []string{"q@p"}},
		{"same time, other arrival order", nil, []*schema.Event{pricing("p", h), signup("s", h)}, nil},
		{"no cooldown: every pricing view fires", []string{noCooldown}, []*schema.Event{signup("s", 0), pricing("p1", h), pricing("p2", 2*h)}, []string{"q@p1", "q@p2"}},
		{"cooldown defaults to within", nil,
			[]*schema.Event{signup("s", 0), pricing("p1", h), pricing("p2", 2*h), signup("s2", 47*h), pricing("p3", 49*h)}, []string{"q@p1", "q@p3"}},
		{"cooldown edge: one cooldown after the alert fires", nil,
			[]*schema.Event{signup("s", 0), pricing("p1", h), signup("s2", 48*h), pricing("p2", 49*h-1), pricing("p3", 49*h)}, []string{"q@p1", "q@p3"}},
		{"late signup counts for a later pricing view", []string{noCooldown},
			[]*schema.Event{pricing("p1", 2*h), signup("s", h), pricing("p2", 3*h)}, []string{"q@p2"}},
		{"late pricing view fires itself", []string{noCooldown},
			[]*schema.Event{signup("s", 0), pricing("p2", 5*h), pricing("p1", h)}, []string{"q@p2", "q@p1"}},
		{"late pricing view before the signup does not", []string{noCooldown},
			[]*schema.Event{signup("s", 2*h), pricing("p1", h)}, nil},
		{"forbidden step between", []string{absent}, []*schema.Event{signup("s", 0), form("f", h), pricing("p", 2*h)}, nil},
		{"forbidden step before the first", []string{absent}, []*schema.Event{form("f", 0), signup("s", h), pricing("p", 2*h)}, []string{"q@p"}},
		{"forbidden step after the last", []string{absent, noCooldown},
			[]*schema.Event{signup("s", 0), pricing("p1", h), form("f", 2*h), pricing("p2", 3*h)}, []string{"q@p1"}},
		{"a new first step after the forbidden one", []string{absent},
			[]*schema.Event{signup("s1", 0), form("f", h), signup("s2", 2*h), pricing("p", 3*h)}, []string{"q@p"}},
		{"forbidden step arriving late", []string{absent, noCooldown},
			[]*schema.Event{signup("s", 0), pricing("p1", 2*h), form("f", h), pricing("p2", 3*h)}, []string{"q@p1"}},
		{"forbidden at the first step's time, arrived after it", []string{absent},
			[]*schema.Event{signup("s", h), form("f", h), pricing("p", 2*h)}, nil},
		{"forbidden at the first step's time, arrived before it", []string{absent},
			[]*schema.Event{form("f", h), signup("s", h), pricing("p", 2*h)}, []string{"q@p"}},
		{"forbidden at the last step's time, arrived before it", []string{absent},
			[]*schema.Event{signup("s", 0), form("f", h), pricing("p", h)}, nil},
		{"forbidden step of another customer", []string{absent},
			[]*schema.Event{signup("s", 0), at("f", h, ofType("form_submit"), customer("c-2", "", "")), pricing("p", 2*h)}, []string{"q@p"}},
		{"forbidden step out of the audience is invisible", []string{absent, "audience: prospect"},
			[]*schema.Event{signup("s", 0), at("f", h, ofType("form_submit"), customer("c-1", "", "customer")), pricing("p", 2*h)}, []string{"q@p"}},
		{"steps of other customers", nil, []*schema.Event{signup("s", 0), at("p", h, customer("c-2", "", ""))}, nil},
		{"steps of one account", []string{"scope: account"},
			[]*schema.Event{at("s", 0, ofType("webinar_signup"), customer("c-1", "acme", "")), at("p", h, customer("c-2", "acme", ""))}, []string{"q@p"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New([]*Signal{sequenceSignal(t, tc.extra...)})
			if got := fired(e, tc.events...); !slices.Equal(got, tc.want) {
				t.Errorf("got alerts %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSequenceSteps(t *testing.T) {
	const m = time.Minute
	three := mustParse(t, `id: q3
owner: o
cooldown: 0s
message: "{{.Count}} steps by {{.People}}"
when:
  sequence:
    steps: [{type: webinar_signup}, {type: webinar_attended}, {type: page_view, url: "*/pricing*"}]
    within: 1d
`)
	e := New([]*Signal{three})
	a := alertsOf(e, at("s", 0, ofType("webinar_signup")), at("p1", m), at("w", 2*m, ofType("webinar_attended")),
		at("p2", 3*m), at("s2", 4*m, ofType("webinar_signup")), at("p3", 5*m))
	var got []string
	for _, x := range a {
		var ids []string
		for _, ev := range x.Evidence {
			ids = append(ids, ev.EventID)
		}
		got = append(got, x.EventID+":"+strings.Join(ids, ",")+":"+x.Message)
	}
	// p3's chain takes the latest event of each step: s (the only signup
	// before w), w, p3.
	want := []string{"p2:s,w,p2:3 steps by 1", "p3:s,w,p3:3 steps by 1"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	// One event is never two steps.
	views := mustParse(t, "id: v\nowner: o\nwhen:\n  sequence:\n    steps: [{type: page_view}, {type: page_view, url: '*/pricing*'}]\n    within: 1d\n")
	if got := fired(New([]*Signal{views}), at("p1", 0)); got != nil {
		t.Errorf("one pricing view: got %v, want none", got)
	}
	if got := fired(New([]*Signal{views}), at("p1", 0), at("p2", m)); !slices.Equal(got, []string{"v@p2"}) {
		t.Errorf("two pricing views: got %v, want [v@p2]", got)
	}
}

// scoreSignal: a pricing view scores 8 + 1, any other page view 1, a
// webinar signup 5; half-life 1h, level 10.
func scoreSignal(t *testing.T, extra ...string) *Signal {
	return mustParse(t, `id: sc
owner: o
message: "{{.Score}}"
when:
  score:
    rules:
      - {match: {type: page_view, url: "*/pricing*"}, points: 8}
      - {match: {type: webinar_signup}, points: 5}
      - {match: {type: page_view}, points: 1}
    half_life: 1h
    level: 10
`+strings.Join(extra, "\n")+"\n")
}

func TestScore(t *testing.T) {
	const m, h = time.Minute, time.Hour
	pricing := func(id string, d time.Duration) *schema.Event { return at(id, d) }
	other := func(id string, d time.Duration) *schema.Event { return at(id, d, withURL("https://example.com/blog")) }
	signup := func(id string, d time.Duration) *schema.Event { return at(id, d, ofType("webinar_signup")) }
	decay := func(d time.Duration) float64 { return math.Exp2(-d.Hours()) }
	type fire struct {
		event string
		score float64
	}
	tests := []struct {
		name   string
		extra  []string
		events []*schema.Event
		want   []fire
	}{
		{"below the level", nil, []*schema.Event{pricing("p", 0)}, nil},
		{"exactly the level", nil, []*schema.Event{pricing("p", 0), other("o", 0)}, []fire{{"o", 10}}},
		{"rules add up", nil, []*schema.Event{signup("s", 0), signup("s2", 0)}, []fire{{"s2", 10}}},
		{"half a life later", nil, []*schema.Event{pricing("p1", 0), pricing("p2", h)}, []fire{{"p2", 9*0.5 + 9}}},
		{"decayed just below", nil, []*schema.Event{pricing("p", 0), other("o", m)}, nil},
		{"no second firing while above", []string{"cooldown: 0s"},
			[]*schema.Event{pricing("p1", 0), pricing("p2", m), pricing("p3", 2*m)}, []fire{{"p2", 9*decay(m) + 9}}},
		{"re-arms once below", []string{"cooldown: 0s"},
			[]*schema.Event{pricing("p1", 0), pricing("p2", m), pricing("p3", 3*h)},
			[]fire{{"p2", 9*decay(m) + 9}, {"p3", (9*decay(m)+9)*decay(3*h-m) + 9}}},
		{"an event below the level re-arms", []string{"cooldown: 0s"},
			[]*schema.Event{pricing("p1", 0), pricing("p2", m), other("o", 3*h), pricing("p3", 3*h+m)},
			[]fire{{"p2", 9*decay(m) + 9}, {"p3", ((9*decay(m)+9)*decay(3*h-m)+1)*decay(m) + 9}}},
		{"cooldown holds a firing back until it is over", []string{"cooldown: 4h"},
			[]*schema.Event{pricing("p1", 0), pricing("p2", m), pricing("p3", 3*h), pricing("p4", 4*h+m), pricing("p5", 4*h+2*m)},
			[]fire{{"p2", 9*decay(m) + 9}, {"p4", ((9*decay(m)+9)*decay(3*h-m)+9)*decay(h+m) + 9}}},
		{"late event scored at its own time", []string{"cooldown: 0s"},
			[]*schema.Event{pricing("p1", 0), other("o", 2*h), pricing("p2", 30*m)},
			[]fire{{"p2", 9*decay(30*m) + 9}}},
		{"late event at the horizon is ignored", nil,
			[]*schema.Event{other("o1", 0), other("o2", 5*h), pricing("late", 3*h), pricing("p", 5*h)},
			[]fire{{"p", decay(5*h) + 1 + 9}}},
		{"late event inside the horizon counts", nil,
			[]*schema.Event{other("o1", 0), other("o2", 5*h), signup("late", 3*h+m), pricing("p", 5*h)},
			[]fire{{"p", decay(5*h) + 1 + 5*decay(2*h-m) + 9}}},
		{"default cooldown is the half-life", nil,
			[]*schema.Event{pricing("p1", 0), pricing("p2", m), pricing("p3", 59*m), pricing("p4", h+m)},
			[]fire{{"p2", 9*decay(m) + 9}, {"p4", ((9*decay(m)+9)*decay(58*m)+9)*decay(2*m) + 9}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newestClock(New([]*Signal{scoreSignal(t, tc.extra...)}))
			var got []fire
			for _, a := range alertsOf(e, tc.events...) {
				f, err := strconv.ParseFloat(a.Message, 64)
				if err != nil {
					t.Fatalf("message %q: %v", a.Message, err)
				}
				got = append(got, fire{a.EventID, f})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got firings %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].event != tc.want[i].event || math.Abs(got[i].score-tc.want[i].score) > 1e-9*tc.want[i].score {
					t.Errorf("firing %d: got %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestScoreFolding(t *testing.T) {
	// One point an hour, half-life 1h: S_n = 1 + S_(n−1)/2 = 2 − 2^−n,
	// which reaches 1.999 at the 11th event (n = 10). By then the events
	// older than two half-lives are folded into one sum, exactly.
	s := mustParse(t, "id: f\nowner: o\nmessage: '{{.Score}} {{.Count}}'\nwhen:\n  score:\n    rules: [{match: {type: page_view}, points: 1}]\n    half_life: 1h\n    level: 1.999\n")
	e := newestClock(New([]*Signal{s}))
	var a []schema.Alert
	for i := range 11 {
		a = append(a, e.Evaluate(at(fmt.Sprint("e", i), time.Duration(i)*time.Hour))...)
	}
	if len(a) != 1 || a[0].EventID != "e10" {
		t.Fatalf("got %v, want one alert at e10", alertKeys(a))
	}
	var score float64
	var count int
	if _, err := fmt.Sscan(a[0].Message, &score, &count); err != nil {
		t.Fatal(err)
	}
	if want := 2 - math.Exp2(-10); math.Abs(score-want) > 1e-12 {
		t.Errorf("got score %v, want %v", score, want)
	}
	if count != 11 {
		t.Errorf("got count %d, want 11", count)
	}
	st := e.programs[0].states["customer:c-1"]
	if st.foldedCount != 9 || len(st.records) != 2 {
		t.Errorf("got %d folded and %d kept events, want 9 (e0…e8) and 2", st.foldedCount, len(st.records))
	}
}

func TestScoreExpiry(t *testing.T) {
	s := mustParse(t, "id: x\nowner: o\ncooldown: 0s\nwhen:\n  score:\n    rules: [{match: {type: page_view, url: '*/pricing*'}, points: 100}]\n    half_life: 1h\n    level: 10\n")
	e := newestClock(New([]*Signal{s}))
	e.Evaluate(at("p", 0))
	// 100 points fall below level/1000 = 0.01 after log2(10⁴) ≈ 13.3
	// half-lives; other traffic moves the engine's time on.
	for i, d := range []time.Duration{10 * time.Hour, 13 * time.Hour, 14 * time.Hour, 15 * time.Hour} {
		e.Evaluate(at(fmt.Sprint("o", i), d, customer("c-2", "", ""), withURL("https://example.com/blog")))
	}
	if _, ok := e.programs[0].states["customer:c-1"]; ok {
		t.Error("c-1's negligible score is still kept at 15h")
	}
	e = newestClock(New([]*Signal{s}))
	e.Evaluate(at("p", 0))
	e.Evaluate(at("o", 12*time.Hour, customer("c-2", "", ""), withURL("https://example.com/blog")))
	if _, ok := e.programs[0].states["customer:c-1"]; !ok {
		t.Error("c-1's score of 100·2^−12 ≈ 0.024 was dropped at 12h")
	}
}

func TestIdentity(t *testing.T) {
	const h = time.Hour
	views := func(extra ...string) *Signal {
		return threshold(t, "v", 3, "7d", append([]string{"message: '{{.Customer}} {{.Account}} {{.Count}}'"}, extra...)...)
	}
	identify := func(id string, d time.Duration, c, anon, account, lifecycle string) *schema.Event {
		return at(id, d, ofType("identify"), known(c, anon, account, lifecycle))
	}
	tests := []struct {
		name   string
		signal *Signal
		events []*schema.Event
		want   []string // subject@event message
	}{
		{"anonymous history counts once identified", views(), []*schema.Event{
			at("e1", 0, anonymous("a-1")), at("e2", h, anonymous("a-1")),
			identify("i", 2*h, "c-1", "a-1", "", ""), at("e3", 3*h)}, []string{"customer:c-1@e3 c-1 c-1 3"}},
		{"without the link it does not", views(), []*schema.Event{
			at("e1", 0, anonymous("a-1")), at("e2", h, anonymous("a-1")), at("e3", 3*h)}, nil},
		{"the linking event itself counts", views(), []*schema.Event{
			at("e1", 0, anonymous("a-1")), at("e2", h, anonymous("a-1")), at("e3", 3*h, known("c-1", "a-1", "", ""))}, []string{"customer:c-1@e3 c-1 c-1 3"}},
		{"later anonymous events count as the customer", views(), []*schema.Event{
			identify("i", 0, "c-1", "a-1", "acme", ""), at("e1", h), at("e2", 2*h, anonymous("a-1")), at("e3", 3*h, anonymous("a-1"))},
			[]string{"customer:c-1@e3 c-1 acme 3"}},
		{"account scope merges into the account", views("scope: account"), []*schema.Event{
			at("e1", 0, anonymous("a-1")), at("e2", h, customer("c-2", "acme", "")),
			identify("i", 2*h, "c-1", "a-1", "acme", ""), at("e3", 3*h, customer("c-1", "acme", ""))},
			[]string{"account:acme@e3 c-1 acme 3"}},
		{"anonymous events after the link count for the account", views("scope: account"), []*schema.Event{
			identify("i", 0, "c-1", "a-1", "acme", ""), at("e1", h, anonymous("a-1")), at("e2", 2*h, customer("c-2", "acme", "")),
			at("e3", 3*h, anonymous("a-1"))}, []string{"account:acme@e3 c-1 acme 3"}},
		{"the link's lifecycle decides the audience", views("audience: customer"), []*schema.Event{
			identify("i", 0, "c-1", "a-1", "acme", "customer"), at("e1", h, anonymous("a-1")), at("e2", 2*h, anonymous("a-1")),
			at("e3", 3*h, anonymous("a-1"))}, []string{"customer:c-1@e3 c-1 acme 3"}},
		{"a link to another customer", views(), []*schema.Event{
			identify("i1", 0, "c-1", "a-1", "", ""), at("e1", h, anonymous("a-1")), identify("i2", 2*h, "c-2", "a-1", "", ""),
			at("e2", 3*h, anonymous("a-1")), at("e3", 4*h, anonymous("a-1")), at("e4", 5*h, anonymous("a-1"))},
			[]string{"customer:c-2@e4 c-2 c-2 3"}},
		{"the same link again merges nothing more", views(), []*schema.Event{
			at("e1", 0, anonymous("a-1")), identify("i1", h, "c-1", "a-1", "", ""), identify("i2", 2*h, "c-1", "a-1", "acme", ""),
			at("e2", 3*h, anonymous("a-1")), at("e3", 4*h, customer("c-1", "", ""))},
			[]string{"customer:c-1@e3 c-1 c-1 3"}},
		{"merged duplicates count once", views(), []*schema.Event{
			at("e1", 0, anonymous("a-1")), at("e2", h), identify("i", 2*h, "c-1", "a-1", "", ""), at("e3", 3*h)},
			[]string{"customer:c-1@e3 c-1 c-1 3"}},
		{"a sequence spanning the login", sequenceSignal(t, "message: '{{.Customer}} {{.Account}} {{.Count}}'"), []*schema.Event{
			at("s", 0, ofType("webinar_signup"), anonymous("a-1")), identify("i", h, "c-1", "a-1", "", ""), at("p", 2*h)},
			[]string{"customer:c-1@p c-1 c-1 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New([]*Signal{tc.signal})
			var got []string
			for _, a := range alertsOf(e, tc.events...) {
				got = append(got, a.Subject+"@"+a.EventID+" "+a.Message)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got alerts %q, want %q", got, tc.want)
			}
		})
	}

	// The merged evidence counts as the customer.
	e := New([]*Signal{views()})
	a := alertsOf(e, at("e1", 0, anonymous("a-1")), identify("i", h, "c-1", "a-1", "", ""), at("e2", 2*h), at("e3", 3*h, anonymous("a-1")))
	if len(a) != 1 {
		t.Fatalf("got %d alerts, want 1", len(a))
	}
	for _, ev := range a[0].Evidence {
		if ev.CustomerID != "c-1" {
			t.Errorf("evidence %s: got customer %q, want c-1", ev.EventID, ev.CustomerID)
		}
	}
	if a[0].CustomerID != "c-1" {
		t.Errorf("got alert customer %q, want c-1", a[0].CustomerID)
	}
}

func TestIdentityScoreMerge(t *testing.T) {
	// Two scores below the level merge into one above it; the next event
	// fires, though the score before it is already above the level.
	e := New([]*Signal{scoreSignal(t)})
	got := fired(e,
		at("p1", 0, anonymous("a-1")),
		at("p2", 10*time.Minute),
		at("i", 20*time.Minute, ofType("identify"), known("c-1", "a-1", "", "")),
		at("o", 30*time.Minute, withURL("https://example.com/blog")),
		at("o2", 31*time.Minute, withURL("https://example.com/blog")))
	if !slices.Equal(got, []string{"sc@o"}) {
		t.Errorf("got %v, want [sc@o]", got)
	}
}

func TestIdentityLinkBound(t *testing.T) {
	e := New([]*Signal{threshold(t, "v", 2, "7d")})
	e.links.limit = 2
	ident := func(id, c, anon string) *schema.Event { return at(id, 0, ofType("identify"), known(c, anon, "", "")) }
	got := fired(e, ident("i1", "c-1", "a-1"), ident("i2", "c-2", "a-2"), ident("i3", "c-3", "a-3"),
		at("e1", time.Minute, anonymous("a-1")), at("e2", 2*time.Minute, customer("c-1", "", "")),
		at("e3", 3*time.Minute, anonymous("a-3")), at("e4", 4*time.Minute, customer("c-3", "", "")))
	// a-1's link was forgotten when a-3's was learnt; a-3's is kept.
	if !slices.Equal(got, []string{"v@e4"}) {
		t.Errorf("got %v, want [v@e4]", got)
	}
	if len(e.links.byAnon) != 2 {
		t.Errorf("got %d links, want 2", len(e.links.byAnon))
	}
}

func TestDuplicates(t *testing.T) {
	signals := []*Signal{
		threshold(t, "t", 1, "1h", "cooldown: 0s"),
		mustParse(t, "id: s\nowner: o\ncooldown: 0s\nwhen:\n  score:\n    rules: [{match: {type: page_view}, points: 10}]\n    half_life: 1h\n    level: 10\n"),
		mustParse(t, "id: q\nowner: o\ncooldown: 0s\nwhen:\n  sequence:\n    steps: [{type: page_view}, {type: page_view}]\n    within: 1h\n"),
	}
	e := New(signals)
	if got := fired(e, at("e1", 0)); !slices.Equal(got, []string{"s@e1", "t@e1"}) {
		t.Fatalf("got %v, want [s@e1 t@e1]", got)
	}
	subjects := e.Subjects()
	// Redelivered, also with another time, type or customer: ignored by
	// every signal, and teaches no identity link.
	dups := []*schema.Event{at("e1", 0), at("e1", time.Minute), at("e1", 0, ofType("form_submit")), at("e1", 0, known("c-9", "a-9", "", ""))}
	if got := fired(e, dups...); got != nil {
		t.Errorf("duplicates fired %v", got)
	}
	if e.Subjects() != subjects || len(e.links.byAnon) != 0 {
		t.Errorf("duplicates changed the state: %d subjects, %d links", e.Subjects(), len(e.links.byAnon))
	}
	// The sequence sees e1 once: it needs a second, distinct view. (The
	// score is at its level already: no new crossing.)
	if got := fired(e, at("e2", 0)); !slices.Equal(got, []string{"q@e2", "t@e2"}) {
		t.Errorf("got %v, want [q@e2 t@e2]", got)
	}

	// Beyond the engine's memory of ids, a signal still knows the events
	// it keeps.
	e = New([]*Signal{threshold(t, "t", 2, "1h", "cooldown: 0s")})
	e.recent.limit = 2
	if got := fired(e, at("e1", 0), at("x1", 0, customer("c-2", "", "")), at("x2", 0, customer("c-3", "", "")), at("e1", time.Minute)); got != nil {
		t.Errorf("got %v, want the old duplicate ignored", got)
	}
	// Events without an id are never duplicates.
	e = New([]*Signal{threshold(t, "t", 2, "1h")})
	if got := fired(e, at("", 0), at("", time.Minute)); len(got) != 1 {
		t.Errorf("got %v, want one alert from two id-less events", got)
	}
}

func TestPlanReuse(t *testing.T) {
	s := sequenceSignal(t)
	if s.compiled == nil {
		t.Fatal("ParseSignal did not keep its plan")
	}
	// A copy with a store version: the alerts name it.
	v := *s
	v.Version = 7
	a := alertsOf(New([]*Signal{&v}), at("s", 0, ofType("webinar_signup")), at("p", time.Minute))
	if len(a) != 1 || a[0].SignalVersion != 7 || a[0].ID != schema.AlertID("q", 7, "customer:c-1", "p") {
		t.Errorf("got %+v, want one alert of version 7", a)
	}
	// A copy changed after parsing is compiled afresh.
	c := *s
	c.When.Sequence = &Sequence{Steps: []Match{{Type: "form_submit"}, {Type: "page_view"}}, Within: Duration(time.Hour)}
	if got := fired(New([]*Signal{&c}), at("s", 0, ofType("webinar_signup")), at("f", time.Minute, ofType("form_submit")), at("p", 2*time.Minute)); !slices.Equal(got, []string{"q@p"}) {
		t.Errorf("got %v, want the changed steps to apply", got)
	}
}

func TestTypeIndex(t *testing.T) {
	// A signal is evaluated for the types of all its matches, and for every
	// type when one match has none.
	seq := sequenceSignal(t, "    absent: {keywords: [jobs]}")
	e := New([]*Signal{seq, scoreSignal(t)})
	if got := candidates(e, "webinar_signup"); !slices.Equal(got, []string{"q", "sc"}) {
		t.Errorf("webinar_signup: got signals %v, want [q sc]", got)
	}
	if got := candidates(e, "other"); !slices.Equal(got, []string{"q"}) {
		t.Errorf("any type: got signals %v, want the sequence", got)
	}
}

// candidates returns the ids of the signals whose dispatch slots an event
// of type typ tests.
func candidates(e *Engine, typ string) []string {
	d := &e.dispatch
	slots, ok := d.byType[typ]
	if !ok {
		slots = d.anyType
	}
	var ids []string
	for _, s := range slices.Concat(slots.url, slots.other) {
		for _, i := range d.progs[s] {
			if id := e.programs[i].sig.ID; !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func TestDispatchSharesMatches(t *testing.T) {
	// Variants of a signal share its match: it is one slot, tested once.
	a := threshold(t, "a", 2, "1h", "scope: account")
	b := threshold(t, "b", 3, "2h")
	c := mustParse(t, "id: c\nowner: o\nwhen:\n  threshold:\n    match: {type: page_view, url: '*/pricing*'}\n    count: 1\n    within: 1h\n")
	e := New([]*Signal{a, b, c})
	if got := len(e.dispatch.matchers); got != 2 {
		t.Errorf("got %d slots, want 2 (page_view, page_view on pricing)", got)
	}
	if got := fired(e, at("e1", 0), at("e2", time.Minute)); !slices.Equal(got, []string{"c@e1", "a@e2"}) {
		t.Errorf("got alerts %v", got)
	}
}

func TestPlainMatchesAllocateNothing(t *testing.T) {
	// Without keywords or where, an event no signal keeps allocates
	// nothing; one that a state keeps allocates its evidence, once,
	// whatever the number of states that keep it.
	var set []*Signal
	for i := range 20 {
		set = append(set, mustParse(t, fmt.Sprintf("id: s%d\nowner: o\nscope: account\nwhen:\n  threshold:\n    match: {type: page_view, url: '*/p%d*', not: {content_id: x}}\n    count: 1000\n    within: 1h\n", i, i)))
		set = append(set, mustParse(t, fmt.Sprintf("id: t%d\nowner: o\nwhen:\n  threshold:\n    match: {type: page_view, url: '*/p%d*'}\n    count: 1000\n    within: 1h\n", i, i)))
	}
	for _, tc := range []struct {
		url    string
		allocs float64
	}{{"https://example.com/q/x", 0}, {"https://example.com/p3/x", 1}} {
		e := New(set)
		e.recent.limit = 1000
		ids := make([]string, 5000)
		for i := range ids {
			ids[i] = fmt.Sprint("e", i)
		}
		ev := at("", 0, customer("c-1", "acme", ""), withURL(tc.url))
		i := 0
		step := func() {
			ev.ID = ids[i%len(ids)]
			ev.Time = t0.Add(time.Duration(i) * time.Second)
			i++
			e.Evaluate(ev)
		}
		for range 3000 {
			step()
		}
		if n := testing.AllocsPerRun(1000, step); n != tc.allocs {
			t.Errorf("%s: got %v allocations per event, want %v", tc.url, n, tc.allocs)
		}
	}
}

func TestForgettingDoesNotDependOnSweeps(t *testing.T) {
	// c-1 is forgotten once the engine's time is 2·within + cooldown = 2h
	// past its newest event, whether or not a sweep has freed it: the late
	// e2 then finds c-1 empty. Engine b sweeps at other times (SetSignals
	// reschedules them, as a restart does).
	const h = time.Hour
	s := threshold(t, "s", 2, "1h", "cooldown: 0s")
	events := []*schema.Event{
		at("e1", 0),
		at("x", 90*time.Minute, ofType("form_submit")),
		at("y", 132*time.Minute, ofType("form_submit")),
		at("e2", h/2),
	}
	a, b := newestClock(New([]*Signal{s})), newestClock(New([]*Signal{s}))
	var gotA, gotB []string
	for i, ev := range events {
		gotA = append(gotA, fired(a, ev)...)
		if i == 2 {
			b.SetSignals([]*Signal{s})
		}
		gotB = append(gotB, fired(b, ev)...)
	}
	if gotA != nil || gotB != nil {
		t.Errorf("got alerts %v and %v, want none from either engine", gotA, gotB)
	}
}

func TestDispatchURLCacheAgreesWithTestingEverySlot(t *testing.T) {
	// URL slots are tested once per URL and remembered; an engine whose
	// memory is wiped before every event must fire the same alerts.
	docs := []string{
		"id: glob\nowner: o\nwhen:\n  threshold:\n    match: {type: page_view, url: '*/pricing*'}\n    count: 2\n    within: 1h\n",
		"id: where\nowner: o\nwhen:\n  threshold:\n    match: {type: page_view, where: 'event.properties.?url.orValue(\"/pricing\").matches(\"/(pricing|docs/)\")'}\n    count: 2\n    within: 1h\n",
		"id: anytype\nowner: o\nwhen:\n  threshold:\n    match: {url: '*/docs/*'}\n    count: 1\n    within: 1h\n",
		"id: content\nowner: o\nwhen:\n  threshold:\n    match: {type: page_view, url: '*/pricing*', content_id: pricing}\n    count: 1\n    within: 1h\n",
		"id: seq\nowner: o\nwhen:\n  sequence:\n    steps:\n      - {type: page_view, url: '*/docs/*'}\n      - {type: page_view, url: '*/pricing*'}\n    within: 1h\n",
		"id: typeonly\nowner: o\ncooldown: 0s\nwhen:\n  threshold:\n    match: {type: form_submit}\n    count: 1\n    within: 1h\n",
	}
	var sigs []*Signal
	for _, d := range docs {
		sigs = append(sigs, mustParse(t, d))
	}
	cached, uncached := New(sigs), New(sigs)
	urls := []any{"https://x.example/pricing", "https://x.example/docs/a", "https://x.example/", "", nil, 42.0, "https://x.example/pricing/plans"}
	types := []string{schema.TypePageView, schema.TypePageView, schema.TypeFormSubmit, "custom"}
	var want, got []string
	for i := range 3000 {
		ev := at(fmt.Sprintf("e%d", i), time.Duration(i)*time.Second)
		ev.Type = types[(i*7)%len(types)]
		ev.Customer.ID = fmt.Sprintf("c-%d", i%5)
		ev.Properties = map[string]any{}
		if u := urls[(i*13)%len(urls)]; u != nil {
			ev.Properties["url"] = u
		}
		if i%3 == 0 {
			ev.ContentID = "pricing"
		}
		for _, ts := range uncached.dispatch.byType {
			ts.byURL = nil
		}
		uncached.dispatch.anyType.byURL = nil
		for _, a := range uncached.Evaluate(ev) {
			want = append(want, a.SignalID+"@"+a.EventID)
		}
		for _, a := range cached.Evaluate(ev) {
			got = append(got, a.SignalID+"@"+a.EventID)
		}
	}
	if len(want) == 0 {
		t.Fatal("no alerts: the test tests nothing")
	}
	if !slices.Equal(got, want) {
		t.Errorf("with the URL memory: %d alerts, without: %d; first difference: %s", len(got), len(want), firstDiff(got, want))
	}
	for _, id := range []string{"glob", "where", "anytype", "content", "seq", "typeonly"} {
		if !slices.ContainsFunc(want, func(a string) bool { return strings.HasPrefix(a, id+"@") }) {
			t.Errorf("signal %s never fired: the events do not exercise it", id)
		}
	}
}

func TestSequenceKeepsNoStateForALoneLastStep(t *testing.T) {
	// A last step without an earlier one completes nothing and can never
	// be part of a later chain: views of it keep no state.
	s := mustParse(t, "id: seq\nowner: o\nwhen:\n  sequence:\n    steps:\n      - {type: webinar_signup}\n      - {type: page_view, url: '*/pricing*'}\n    within: 1h\n")
	e := New([]*Signal{s})
	pricing := withURL("https://x.example/pricing")
	signup := func(ev *schema.Event) { ev.Type = schema.TypeWebinarSignup }
	if got := fired(e, at("p1", 0, pricing), at("p2", time.Minute, pricing)); len(got) != 0 {
		t.Fatalf("fired %v without a signup", got)
	}
	if n := e.Subjects(); n != 0 {
		t.Errorf("%d states after two lone last steps, want 0", n)
	}
	if got := fired(e, at("s1", 2*time.Minute, signup), at("p3", 3*time.Minute, pricing)); !slices.Equal(got, []string{"seq@p3"}) {
		t.Errorf("signup then pricing: got %v, want [seq@p3]", got)
	}
}
