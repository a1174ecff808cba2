package detector

import (
	"fmt"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// The micro-benchmarks below time one hot path each: a match test, a
// window update, a checkpoint. The engine benchmarks time them together.

// BenchmarkMatch tests one compiled match against one event, as dispatch
// does on an event's first test of a slot: the per-event memory of
// tokens and where results is reset each time.
func BenchmarkMatch(b *testing.B) {
	page := &schema.Event{Type: schema.TypePageView, ID: "e1", Time: t0,
		Customer:   schema.Customer{ID: "c-1", AccountID: "acme"},
		Properties: map[string]any{"url": "https://dowser.example/p07/docs/integrations/salesforce", "title": "Integration: salesforce"}}
	email := &schema.Event{Type: schema.TypeSupportEmail, ID: "e2", Time: t0,
		Customer: schema.Customer{ID: "c-1", AccountID: "acme"},
		Properties: map[string]any{"subject": "Export keeps timing out",
			"body": "Hi team,\n\nThe nightly export keeps timing out since Tuesday, and we are considering moving to another vendor.\n\nThanks,\nAda"}}
	cases := []struct {
		name  string
		match string
		ev    *schema.Event
	}{
		{"type", "{type: page_view}", page},
		{"url-glob", "{type: page_view, url: '*/docs/integrations/?*'}", page},
		{"where-native", `{type: page_view, where: 'event.properties.?url.orValue("").matches("/(pricing|compare|docs/integrations/)")'}`, page},
		{"where-cel", `{type: page_view, where: 'event.properties.?title.orValue("").startsWith("Integration") && event.customer.account_id == "acme"'}`, page},
		{"keywords", `{type: support_email, keywords: [cancel, cancelling, competitor, "moving to", "switch to", outage, "timing out", broken]}`, email},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, err := ParseSignal([]byte("id: m\nowner: o\nwhen:\n  threshold:\n    match: " + c.match + "\n    count: 1\n    within: 1h\n"))
			if err != nil {
				b.Fatal(err)
			}
			m := &planOf(s, s.Hash()).match
			var x evalCtx
			x.reset(c.ev, link{})
			if !m.matches(&x) {
				b.Fatalf("%s does not match its event", c.match)
			}
			b.ReportAllocs()
			for b.Loop() {
				x.reset(c.ev, link{})
				m.matches(&x)
			}
		})
	}
}

// BenchmarkWindowUpdate evaluates one subject's events for one threshold
// whose window always holds about 360 of them (one every 10 s, within
// 1h): inserting the event, pruning the oldest, counting the window. With
// distinct, the window's values are counted by the index.
func BenchmarkWindowUpdate(b *testing.B) {
	for _, extra := range []string{"", "    distinct: properties.url\n"} {
		name := "count"
		if extra != "" {
			name = "distinct"
		}
		b.Run(name, func(b *testing.B) {
			s, err := ParseSignal([]byte("id: w\nowner: o\ncooldown: 0s\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: 10000\n    within: 1h\n" + extra))
			if err != nil {
				b.Fatal(err)
			}
			e := New([]*Signal{s})
			ids := benchIDs()
			ev := &schema.Event{Type: schema.TypePageView, Customer: schema.Customer{ID: "c-1"},
				Properties: map[string]any{}}
			urls := make([]string, 50)
			for i := range urls {
				urls[i] = fmt.Sprintf("https://dowser.example/page/%d", i)
			}
			n := 0
			step := func() {
				ev.ID, ev.Time = ids[n%len(ids)], t0.Add(time.Duration(n)*10*time.Second)
				ev.Properties["url"] = urls[n%len(urls)]
				n++
				e.Evaluate(ev)
			}
			for range 1000 {
				step()
			}
			b.ReportAllocs()
			for b.Loop() {
				step()
			}
		})
	}
}

// BenchmarkCheckpoint encodes (Snapshot) and decodes (RestoreSnapshot) the state
// of an engine running the default pack after demo-like traffic of 1,000
// accounts, as a partition's checkpoint does; it reports the bytes a
// checkpoint takes and the states it holds.
func BenchmarkCheckpoint(b *testing.B) {
	signals := packVariants(b, 8)
	events, _ := demoEvents(1<<17, 1000)
	e := New(signals)
	for i := range events {
		e.Evaluate(&events[i])
	}
	data, err := e.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "bytes")
		b.ReportMetric(float64(e.Subjects()), "states")
	})
	b.Run("decode", func(b *testing.B) {
		r := New(signals)
		b.ReportAllocs()
		for b.Loop() {
			if err := r.RestoreSnapshot(data); err != nil {
				b.Fatal(err)
			}
		}
		if r.Subjects() != e.Subjects() {
			b.Fatalf("restored %d states, saved %d", r.Subjects(), e.Subjects())
		}
	})
	// The same state as incremental rows (see BenchmarkChanges and
	// BenchmarkRestore): every row, as after MarkAllChanged.
	rows := table{}
	e.MarkAllChanged()
	meta := rows.apply(e)
	size := len(meta)
	for _, d := range rows {
		size += len(d)
	}
	b.Run("rows-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e.MarkAllChanged()
			e.Changes(func(string, []byte) {})
		}
		b.ReportMetric(float64(size), "bytes")
	})
	b.Run("rows-decode", func(b *testing.B) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			r := New(signals)
			rs, err := r.BeginRestore(meta)
			if err != nil {
				b.Fatal(err)
			}
			for k, d := range rows {
				if err := rs.Add(k, d); err != nil {
					b.Fatal(err)
				}
			}
			if err := rs.Finish(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
