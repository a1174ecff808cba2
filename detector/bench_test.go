package detector

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/schema"
)

// The benchmarks below evaluate pre-decoded events, so that they measure
// the engine alone. Each keeps a fixed pool of events and replays it in
// laps, moving every event's time forward by the pool's span so that time
// goes on as if the pool repeated, and giving every event evaluated a new
// id from benchIDs. Nothing is allocated by the loop itself.

// benchSignals returns n generated signals over benchTypes event types and
// benchURLs URLs: thresholds (some with distinct, some account-scoped with
// min_people), two-step sequences (some with absent) and two-rule scores,
// in turn, so that each event type is watched by about 3n/100 of them.
func benchSignals(tb testing.TB, n int) []*Signal {
	tb.Helper()
	var out []*Signal
	for i := range n {
		typ := func(k int) string { return fmt.Sprintf("t%02d", (i+k)%benchTypes) }
		url := fmt.Sprintf("*/u%02d*", benchURL(i))
		var doc string
		switch i % 3 {
		case 0:
			extra := ""
			switch {
			case i%7 == 0:
				extra = "\n    distinct: properties.url"
			case i%11 == 0:
				extra = "\nscope: account\nmin_people: 2"
			}
			doc = fmt.Sprintf("when:\n  threshold:\n    match: {type: %s, url: %q}\n    count: 3\n    within: 1h%s",
				typ(0), url, extra)
		case 1:
			absent := ""
			if i%4 == 1 {
				absent = fmt.Sprintf("\n    absent: {type: %s}", typ(2))
			}
			doc = fmt.Sprintf("when:\n  sequence:\n    steps: [{type: %s}, {type: %s, url: %q}]\n    within: 1h%s",
				typ(0), typ(1), url, absent)
		default:
			doc = fmt.Sprintf("scope: account\nwhen:\n  score:\n    rules:\n      - {match: {type: %s}, points: 3}\n      - {match: {type: %s, url: %q}, points: 10}\n    half_life: 30m\n    level: 20",
				typ(0), typ(3), url)
		}
		s, err := ParseSignal([]byte(fmt.Sprintf("id: s%04d\nowner: o\n%s\n", i, doc)))
		if err != nil {
			tb.Fatalf("signal %d: %v\n%s", i, err, doc)
		}
		out = append(out, s)
	}
	return out
}

const (
	benchTypes = 100
	benchURLs  = 100
)

// benchURL is the URL index signal i watches: signals of one type watch
// different URLs.
func benchURL(i int) int { return (7*i + i/benchTypes) % benchURLs }

// benchEvents returns n events of customers in accounts (customers/5 of
// them, 5 people each), of random types and URLs, step apart.
func benchEvents(n, customers int, step time.Duration) []schema.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	props := make([]map[string]any, benchURLs)
	for i := range props {
		props[i] = map[string]any{"url": fmt.Sprintf("https://example.com/u%02d/page", i), "title": "Page"}
	}
	people := make([]schema.Customer, customers)
	for i := range people {
		people[i] = schema.Customer{ID: fmt.Sprintf("c-%d", i), AccountID: fmt.Sprintf("a-%d", i/5)}
	}
	types := make([]string, benchTypes)
	for i := range types {
		types[i] = fmt.Sprintf("t%02d", i)
	}
	events := make([]schema.Event, n)
	for i := range events {
		events[i] = schema.Event{
			ID:         fmt.Sprintf("e-%d", i),
			Type:       types[rng.IntN(benchTypes)],
			Time:       t0.Add(time.Duration(i) * step),
			Customer:   people[rng.IntN(customers)],
			Properties: props[rng.IntN(benchURLs)],
		}
	}
	return events
}

// benchIDs are distinct event ids, cut from one string so that using one
// allocates nothing: enough that an id comes back only after every window
// and cooldown of the benchmarks has passed.
var benchIDs = sync.OnceValue(func() []string {
	const n, width = 1 << 22, 8
	var buf strings.Builder
	buf.Grow(n * width)
	for i := range n {
		fmt.Fprintf(&buf, "%08x", i)
	}
	all := buf.String()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = all[i*width : (i+1)*width]
	}
	return ids
})

// replay evaluates warmup events, untimed, and then events for as long as
// b.Loop runs, taking them in laps from events, whose span is lap. It
// reports the events evaluated per second, per second of CPU time (the
// process's, GC included: what one core does when other processes compete
// for it) and the alerts per event.
func replay(b *testing.B, e *Engine, events []schema.Event, lap time.Duration, warmup int) {
	b.Helper()
	ids := benchIDs()
	base := make([]time.Time, len(events))
	for i := range events {
		base[i] = events[i].Time
	}
	n, i, shift := 0, 0, time.Duration(0)
	next := func() *schema.Event {
		ev := &events[i]
		ev.Time = base[i].Add(shift)
		ev.ID = ids[n%len(ids)]
		n++
		if i++; i == len(events) {
			i, shift = 0, shift+lap
		}
		return ev
	}
	for range warmup {
		e.Evaluate(next())
	}
	alerts := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		alerts += len(e.Evaluate(next()))
	}
	if cpu := cpuTime() - cpu; cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(alerts)/float64(b.N), "alerts/event")
}

func benchmarkEngine(b *testing.B, signals int) {
	const n, step = 1 << 18, 100 * time.Millisecond
	events := benchEvents(n, 10_000, step)
	e := New(benchSignals(b, signals))
	replay(b, e, events, n*step, 0)
}

// BenchmarkEngine10Signals and its siblings measure the engine alone on
// generated signals: how the cost of an event grows with the number of
// signals, most of which its type rules out.
func BenchmarkEngine10Signals(b *testing.B)   { benchmarkEngine(b, 10) }
func BenchmarkEngine100Signals(b *testing.B)  { benchmarkEngine(b, 100) }
func BenchmarkEngine1000Signals(b *testing.B) { benchmarkEngine(b, 1000) }

// BenchmarkPack runs the default signal pack (../deploy/signals) over
// demo-like traffic, one event a second: mostly noise page views, pricing,
// docs and compare pages, webinars, support emails and forms, a fifth of
// it anonymous, from 30 accounts (as `dowser signals generate` made before
// it had many), so that subjects are long, and from 1,000 accounts. The
// first 2^20 events (12 days, past the pack's longest horizon) are not
// timed, so that the subjects are as long as they get.
func BenchmarkPack(b *testing.B) {
	files, err := filepath.Glob("../deploy/signals/*.yaml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no signal pack: %v", err)
	}
	var signals []*Signal
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		s, err := ParseSignal(src)
		if err != nil {
			b.Fatalf("%s: %v", f, err)
		}
		signals = append(signals, s)
	}
	for _, accounts := range []int{30, 1000} {
		b.Run(fmt.Sprintf("accounts=%d", accounts), func(b *testing.B) {
			const n = 1 << 18
			events, span := demoEvents(n, accounts)
			replay(b, New(signals), events, span, 1<<20)
		})
	}
}

// BenchmarkPackVariants runs n signals over demo-like traffic from 1,000
// accounts: the default pack, then variants of it with other ids, counts,
// windows and URLs, made as `dowser bench` makes them (cmd/dowser), so
// that most signals watch the few event types of most events.
func BenchmarkPackVariants(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("signals=%d", n), func(b *testing.B) {
			events, span := demoEvents(1<<18, 1000)
			replay(b, New(packVariants(b, n)), events, span, 1<<18)
		})
	}
}

// packVariants returns n signals: the default pack, then variants of it
// with other ids, thresholds and windows that mostly watch the very same
// pages: the worst case for dispatch, where every research view is
// relevant to about a third of all signals. (cmd/dowser's benchSignalSet
// gives each variant a product line of its own instead.)
func packVariants(tb testing.TB, n int) []*Signal {
	tb.Helper()
	pack, err := deploy.Pack()
	if err != nil {
		tb.Fatalf("no signal pack: %v", err)
	}
	var out []*Signal
	for i := range n {
		v := i / len(pack)
		src := deploy.Variant(pack[i%len(pack)], v)
		if v > 0 {
			tweaked := src
			switch v % 4 {
			case 2:
				tweaked = strings.ReplaceAll(src, "/pricing", "/plans")
			case 3:
				tweaked = strings.ReplaceAll(src, "/compare", "/pricing")
			}
			if _, err := ParseSignal([]byte(tweaked)); err == nil {
				src = tweaked
			}
		}
		s, err := ParseSignal([]byte(src))
		if err != nil {
			tb.Fatalf("variant %d: %v", i, err)
		}
		out = append(out, s)
	}
	return out
}

// demoEvents returns n events shaped like the demo's synthetic traffic
// (cmd/dowser/demo.go), one a second, and their span.
func demoEvents(n, accounts int) ([]schema.Event, time.Duration) {
	rng := rand.New(rand.NewPCG(3, 4))
	const site = "https://dowser.example"
	noise := []string{"/", "/blog/intent-data-is-stale", "/blog/kafka-at-scale", "/docs/getting-started", "/careers", "/about", "/customers"}
	integrations := []string{"salesforce", "hubspot", "segment", "snowflake", "slack", "zendesk"}
	subjects := []string{"Export keeps timing out", "How do I add more seats?", "We hit the event limit again",
		"Question about our invoice", "Outage this morning?", "Considering moving to a competitor",
		"SSO setup help", "Can we upgrade mid-term?"}
	page := func(path, title string) map[string]any { return map[string]any{"url": site + path, "title": title} }
	var pages []map[string]any
	for _, p := range noise {
		pages = append(pages, page(p, "Noise"))
	}
	pricing, compare := page("/pricing", "Pricing"), page("/compare", "Dowser vs. the others")
	var docs []map[string]any
	for _, p := range integrations {
		docs = append(docs, page("/docs/integrations/"+p, "Integration: "+p))
	}
	var emails []map[string]any
	for _, s := range subjects {
		emails = append(emails, map[string]any{"subject": s, "body": "(demo message body)"})
	}
	webinar := map[string]any{"webinar_id": "kafka-2026-12", "title": "Real-time intent with Kafka"}
	form := map[string]any{"form": "contact-sales", "url": site + "/contact"}

	var people [][3]schema.Customer
	for a := range accounts {
		acct := fmt.Sprintf("acct-%d", a)
		lc := schema.LifecycleProspect
		if a%3 == 2 {
			lc = schema.LifecycleCustomer
		}
		var p [3]schema.Customer
		for k := range p {
			p[k] = schema.Customer{ID: fmt.Sprintf("c-%s-%d", acct, k+1), AccountID: acct, Lifecycle: lc}
		}
		people = append(people, p)
	}
	hot, hotUntil := -1, 0
	events := make([]schema.Event, n)
	for i := range events {
		ev := &events[i]
		ev.ID = fmt.Sprintf("evt-%016x", rng.Uint64())
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		ev.Type = schema.TypePageView
		if i >= hotUntil && rng.IntN(40) == 0 {
			hot, hotUntil = rng.IntN(accounts), i+30+rng.IntN(60)
		}
		a, isHot := rng.IntN(accounts), false
		if i < hotUntil && rng.IntN(3) == 0 {
			a, isHot = hot, true
		}
		ev.Customer = people[a][rng.IntN(3)]
		switch r := rng.IntN(100); {
		case isHot && r < 45, r < 4:
			ev.Properties, ev.ContentID = pricing, "pricing-page"
		case isHot && r < 65:
			ev.Properties = docs[rng.IntN(len(docs))]
		case isHot && r < 75:
			ev.Properties, ev.ContentID = compare, "compare-page"
		case r < 6:
			ev.Type, ev.Properties, ev.ContentID = schema.TypeWebinarSignup, webinar, "kafka-webinar"
		case r < 7:
			ev.Type, ev.Properties, ev.ContentID = schema.TypeWebinarAttended, webinar, "kafka-webinar"
		case r < 9:
			ev.Type, ev.Properties = schema.TypeSupportEmail, emails[rng.IntN(len(emails))]
		case r < 10:
			ev.Type, ev.Properties = schema.TypeFormSubmit, form
		case r < 30:
			ev.Customer = schema.Customer{AnonymousID: fmt.Sprintf("ajs-%04d", rng.IntN(5000))}
			ev.Properties = pages[rng.IntN(len(pages))]
		default:
			ev.Properties = pages[rng.IntN(len(pages))]
		}
	}
	return events, time.Duration(n) * time.Second
}

// BenchmarkStateSize measures the heap an engine of 20 signals holds per
// active subject (every customer and account the events name, as dowser
// bench counts them) and per (signal, subject) state, after GC, the
// recent-id memory excluded:
//
//   - generated: 20 generated signals; 100,000 customers (in 20,000
//     accounts) each send 10 events of the signals' types and URLs;
//   - pack: the pack and its variants, as dowser bench measures it: one
//     research page view (pricing, comparison, an integration guide or
//     the buyer's guide, in turn) by each of 100,000 people, each in an
//     account of their own.
func BenchmarkStateSize(b *testing.B) {
	b.Run("generated", func(b *testing.B) {
		const customers, perCustomer = 100_000, 10
		// The 20 signals watch types t00…t22 and 20 URLs; restrict the
		// events to those.
		events := benchEvents(customers*perCustomer, customers, time.Millisecond)
		types, urls := make([]string, 23), make([]map[string]any, 20)
		for i := range types {
			types[i] = fmt.Sprintf("t%02d", i)
		}
		for i := range urls {
			urls[i] = map[string]any{"url": fmt.Sprintf("https://example.com/u%02d/page", benchURL(i)), "title": "Page"}
		}
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range events {
			events[i].Type, events[i].Properties = types[rng.IntN(len(types))], urls[rng.IntN(len(urls))]
		}
		stateSize(b, benchSignals(b, 20), events, customers+customers/5)
	})
	b.Run("pack", func(b *testing.B) {
		const people = 100_000
		pages := []string{"/pricing", "/compare", "/docs/integrations/salesforce", "/resources/buyers-guide"}
		events := make([]schema.Event, people)
		for i := range events {
			acct := fmt.Sprintf("acct-%07d", i)
			c := schema.Customer{ID: fmt.Sprintf("c-%07d", i), Email: fmt.Sprintf("p%07d@%s.example", i, acct), AccountID: acct, Lifecycle: schema.LifecycleProspect}
			if i%3 == 2 {
				c.Lifecycle = schema.LifecycleCustomer
			}
			events[i] = schema.Event{ID: fmt.Sprintf("evt-state-%08d", i), Type: schema.TypePageView, Time: t0.Add(time.Duration(i) * time.Millisecond),
				Source: "bench", Customer: c, Properties: map[string]any{"url": "https://dowser.example" + pages[i%len(pages)], "title": "Page"}}
		}
		stateSize(b, packVariants(b, 20), events, 2*people)
	})
}

// stateSize evaluates events with a new engine of signals in each
// b.Loop, and reports the heap it then holds per subject and per state.
func stateSize(b *testing.B, signals []*Signal, events []schema.Event, subjects int) {
	var perSubject, perState float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		e := New(signals)
		for i := range events {
			e.Evaluate(&events[i])
		}
		// The recent-id memory is per engine, not per subject.
		e.recent = recentIDs{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		used := float64(after.HeapAlloc) - float64(before.HeapAlloc)
		perSubject = used / float64(subjects)
		perState = used / float64(e.Subjects())
		runtime.KeepAlive(e)
	}
	b.ReportMetric(perSubject, "B/subject")
	b.ReportMetric(perState, "B/state")
}

// checkpointEngine returns the default pack's engine after one research
// page view by each of people people, each in an account of their own (as
// BenchmarkStateSize's pack), and its number of subjects; its recent ids
// are dropped, so that the rows are the subjects'.
func checkpointEngine(b *testing.B, people int) (*Engine, []*Signal, int) {
	b.Helper()
	pack, err := deploy.Pack()
	if err != nil {
		b.Fatal(err)
	}
	signals := packVariants(b, len(pack))
	pages := []string{"/pricing", "/compare", "/docs/integrations/salesforce", "/resources/buyers-guide"}
	e := New(signals)
	for i := range people {
		acct := fmt.Sprintf("acct-%07d", i)
		c := schema.Customer{ID: fmt.Sprintf("c-%07d", i), AccountID: acct, Lifecycle: schema.LifecycleProspect}
		e.Evaluate(&schema.Event{ID: fmt.Sprintf("evt-%08d", i), Type: schema.TypePageView, Time: t0.Add(time.Duration(i) * time.Millisecond),
			Customer: c, Properties: map[string]any{"url": "https://dowser.example" + pages[i%len(pages)], "title": "Page"}})
	}
	e.recent = recentIDs{limit: MaxRecentEvents, seed: e.recent.seed}
	return e, signals, e.ActiveSubjects()
}

// BenchmarkChanges measures a checkpoint's cost per changed subject's
// row, with the default pack: "all" encodes every subject of a large warm
// engine (as after MarkAllChanged: subjects cold in the cache), "events"
// the rows that 1,000 events of demo-like traffic from 1,000 accounts
// changed (the evaluation not timed), as a running partition does.
func BenchmarkChanges(b *testing.B) {
	b.Run("all", func(b *testing.B) {
		e, _, subjects := checkpointEngine(b, 100_000)
		var rows, size int
		emit := func(_ string, data []byte) { rows, size = rows+1, size+len(data) }
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			rows, size = 0, 0
			e.MarkAllChanged()
			e.Changes(emit)
		}
		cpu = cpuTime() - cpu
		if rows != subjects {
			b.Fatalf("%d rows for %d subjects", rows, subjects)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subjects), "ns/row")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*subjects), "cpu-ns/row")
		b.ReportMetric(float64(size)/float64(subjects), "bytes/row")
	})
	b.Run("events", func(b *testing.B) {
		pack, err := deploy.Pack()
		if err != nil {
			b.Fatal(err)
		}
		e := New(packVariants(b, len(pack)))
		events, span := demoEvents(1<<18, 1000)
		ids := benchIDs()
		n, lap := 0, time.Duration(0)
		evaluate := func(k int) {
			for range k {
				ev := events[n%len(events)]
				ev.ID, ev.Time = ids[n%len(ids)], ev.Time.Add(lap)
				e.Evaluate(&ev)
				if n++; n%len(events) == 0 {
					lap += span
				}
			}
		}
		evaluate(1 << 18)
		e.Changes(func(string, []byte) {})
		var rows, size int
		emit := func(key string, data []byte) {
			if key[0] != '#' {
				rows, size = rows+1, size+len(data)
			}
		}
		var cpu time.Duration
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			evaluate(1000)
			b.StartTimer()
			start := cpuTime()
			e.Changes(emit)
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(rows), "cpu-ns/row")
		b.ReportMetric(float64(size)/float64(rows), "bytes/row")
		b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
	})
}

// BenchmarkRestore rebuilds an engine like BenchmarkChanges's, of more
// than 200,000 subjects, from its meta and rows: MB/s of rows and subjects/s on one
// core, and the heap the restored engine holds per subject.
func BenchmarkRestore(b *testing.B) {
	e, signals, subjects := checkpointEngine(b, 280_000)
	if subjects < 200_000 {
		b.Fatalf("%d subjects, want at least 200,000", subjects)
	}
	type row struct {
		key  string
		data []byte
	}
	var rows []row
	var size int64
	e.MarkAllChanged()
	meta := e.Changes(func(key string, data []byte) {
		rows = append(rows, row{key, data})
		size += int64(len(data))
	})
	e = nil
	b.SetBytes(size)
	b.ReportAllocs()
	var heap float64
	var cpu time.Duration
	for b.Loop() {
		start := cpuTime()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := New(signals)
		rs, err := r.BeginRestore(meta)
		if err != nil {
			b.Fatal(err)
		}
		for _, w := range rows {
			if err := rs.Add(w.key, w.data); err != nil {
				b.Fatal(err)
			}
		}
		if err := rs.Finish(); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - start
		b.StopTimer()
		if r.ActiveSubjects() != subjects {
			b.Fatalf("restored %d subjects, saved %d", r.ActiveSubjects(), subjects)
		}
		r.recent = recentIDs{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(subjects)
		runtime.KeepAlive(r)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*subjects)/b.Elapsed().Seconds(), "subjects/s")
	b.ReportMetric(float64(b.N*subjects)/cpu.Seconds(), "subjects/cpu-s")
	b.ReportMetric(float64(int64(b.N)*size)/1e6/cpu.Seconds(), "MB/cpu-s")
	b.ReportMetric(heap, "heap-B/subject")
}
