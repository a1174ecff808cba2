package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// benchEvents is the engine stage's input: the first events of the bench
// traffic, as the consumer receives them (JSON, lifecycles filled in as
// the service's cache fills them), in one pointer-free buffer so that
// keeping a million of them costs the garbage collector nothing.
type benchEvents struct {
	data []byte
	ends []int // data[ends[i-1]:ends[i]] is event i
}

func newBenchEvents(n int) (*benchEvents, error) {
	t := newBenchTraffic()
	b := &benchEvents{ends: make([]int, 0, n)}
	for i := range n {
		ev := t.next(benchEventTime(i))
		benchFillLifecycle(&ev)
		raw, err := json.Marshal(&ev)
		if err != nil {
			return nil, err
		}
		b.data = append(b.data, raw...)
		b.ends = append(b.ends, len(b.data))
	}
	return b, nil
}

func (b *benchEvents) len() int { return len(b.ends) }

func (b *benchEvents) raw(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.data[start:b.ends[i]]
}

// benchEngineBatch is how many events benchEngine decodes before it
// evaluates them.
const benchEngineBatch = 256

// benchEngine evaluates evs, every one or as many as limit (of CPU time)
// allows, with a fresh engine of sigs on this goroutine, and returns the
// events evaluated per second of the process's CPU time (user and system,
// GC included: nothing else runs in the process meanwhile) and per wall
// second. The CPU figure is what one core does, whatever else the machine
// runs.
//
// The events are decoded (schema.Decoder, as the consumer does), untimed,
// in batches of benchEngineBatch just before they are evaluated, timed:
// the engine gets them fresh from the decoder, as in the service.
// Evaluating half a million events decoded in advance instead measured
// mostly cache misses on the events themselves (their property maps,
// ids and URLs, scattered over the heap), which the service never pays,
// and the garbage collector's marking of them: the same engine ran at
// 1.4 to 2.3 million events a second depending on where the heap had put
// them.
func benchEngine(evs *benchEvents, sigs []*detector.Signal, limit time.Duration) (perCPU, perWall float64, err error) {
	runtime.GC()
	e := detector.New(sigs)
	dec := schema.NewDecoder(0)
	batch := make([]schema.Event, benchEngineBatch)
	props := make([]map[string]any, benchEngineBatch)
	for j := range props {
		props[j] = make(map[string]any)
	}
	var cpu, wall time.Duration
	done := 0
	for done < evs.len() && cpu < limit {
		n := min(benchEngineBatch, evs.len()-done)
		for j := range n {
			ev := &batch[j]
			if err := dec.Decode(evs.raw(done+j), ev); err != nil {
				return 0, 0, fmt.Errorf("bench event %d: %w", done+j, err)
			}
			// The decoder's map is reused by its next Decode.
			clear(props[j])
			maps.Copy(props[j], ev.Properties)
			ev.Properties = props[j]
		}
		cpu0, err := processCPU()
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		for j := range n {
			e.Evaluate(&batch[j])
		}
		wall += time.Since(start)
		cpu1, err := processCPU()
		if err != nil {
			return 0, 0, err
		}
		cpu += cpu1 - cpu0
		done += n
	}
	runtime.KeepAlive(e)
	return float64(done) / cpu.Seconds(), float64(done) / wall.Seconds(), nil
}

// processCPU returns the CPU time the process has used so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("reading the process's CPU time: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// benchProductLines is how many product lines the bench traffic files its
// research pages under.
const benchProductLines = 40

// benchSignalSet returns n signals: the default pack, then variants of it
// with other ids, thresholds and windows, each watching the pages,
// webinars and support queue of one product line. A marketer's thousand signals watch many pages, not the
// same three a thousand times: an event is relevant to the pack and the
// few variants of its product line, whatever n is.
func benchSignalSet(n int) ([]*detector.Signal, error) {
	pack, err := deploy.Pack()
	if err != nil {
		return nil, err
	}
	webinarStepRe := regexp.MustCompile(`\{type: (webinar_\w+)\}`)
	supportRe := regexp.MustCompile(`(?m)^(\s+)type: support_email$`)
	out := make([]*detector.Signal, 0, n)
	for i := range n {
		v := i / len(pack)
		src := deploy.Variant(pack[i%len(pack)], v)
		if v > 0 {
			// Each variant watches the pages, webinars and support queue
			// of one product line, as the traffic files them (the pack
			// itself watches them all).
			line := productLinePrefix((v - 1) % benchProductLines)
			for _, p := range researchPaths {
				src = strings.ReplaceAll(src, p, line+p)
			}
			src = strings.ReplaceAll(src, `matches("/(`, `matches("`+line+`/(`)
			src = webinarStepRe.ReplaceAllString(src, `{type: $1, url: "*`+line+`/webinars/*"}`)
			src = supportRe.ReplaceAllString(src, "${1}type: support_email\n${1}content_id: support-"+line[1:])
		}
		s, err := detector.ParseSignal([]byte(src))
		if err != nil {
			return nil, fmt.Errorf("bench signal %d: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// benchState gives each of n/2 people, each of an account of their own,
// one research page view and then a webinar attendance, over 20 signals,
// so that every person and every account is an active subject (the
// attendance counts for a sequence of the person, the view for
// thresholds of the account), and returns the heap the engine then holds
// per active subject and its live (signal, subject) states. The events
// are filed under product lines as the bench traffic files them.
func benchState(n int) (perSubject float64, pairs int, err error) {
	sigs, err := benchSignalSet(20)
	if err != nil {
		return 0, 0, err
	}
	// Prospects see every research page; for a customer's account only
	// the integration guides count (the other signals take prospects).
	prospectPages := []string{"/pricing", "/compare", "/docs/integrations/salesforce"}
	lines := &traffic{productLines: benchProductLines}
	people := max(n/2, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := detector.New(sigs)
	at := benchEpoch
	for i := range people {
		acct := fmt.Sprintf("acct-%07d", i)
		c := schema.Customer{ID: fmt.Sprintf("c-%07d", i), Email: fmt.Sprintf("p%07d@%s.example", i, acct), AccountID: acct, Lifecycle: schema.LifecycleProspect}
		path := prospectPages[i%len(prospectPages)]
		if i%3 == 2 {
			c.Lifecycle, path = schema.LifecycleCustomer, "/docs/integrations/hubspot"
		}
		view := pageView(c, page{path: path, title: "Page"})
		attend := webinarEvent(schema.TypeWebinarAttended, c)
		for k, ev := range []*schema.Event{&view, &attend} {
			ev.ID = fmt.Sprintf("evt-state-%08d-%d", i, k)
			ev.Time = at
			ev.Source = "bench"
			lines.fileUnderProductLine(ev)
			e.Evaluate(ev)
			at = at.Add(time.Millisecond)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	pairs = e.Subjects()
	active := e.ActiveSubjects()
	if active != 2*people {
		return 0, pairs, fmt.Errorf("detector state: %d active subjects, want %d (every person and account)", active, 2*people)
	}
	return float64(heap) / float64(active), pairs, nil
}
