package main

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// benchDecodedEvents returns the first n events of the bench traffic, as
// the consumer hands them to the detector.
func benchDecodedEvents(n int) []schema.Event {
	t := newBenchTraffic()
	evs := make([]schema.Event, n)
	for i := range evs {
		evs[i] = t.next(benchEventTime(i))
		benchFillLifecycle(&evs[i])
	}
	return evs
}

// benchEngine evaluates evs, every one or as many as limit allows, with a
// fresh engine of sigs on this goroutine, and returns the events evaluated
// per second of the process's CPU time (user and system, GC included:
// nothing else runs in the process meanwhile) and per wall second. The
// CPU figure is what one core does, whatever else the machine runs.
func benchEngine(evs []schema.Event, sigs []*detector.Signal, limit time.Duration) (perCPU, perWall float64, err error) {
	runtime.GC()
	e := detector.New(sigs)
	cpu0, err := processCPU()
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	done := len(evs)
	for i := range evs {
		e.Evaluate(&evs[i])
		if i%1024 == 1023 && time.Since(start) > limit {
			done = i + 1
			break
		}
	}
	wall := time.Since(start)
	cpu1, err := processCPU()
	if err != nil {
		return 0, 0, err
	}
	runtime.KeepAlive(e)
	return float64(done) / (cpu1 - cpu0).Seconds(), float64(done) / wall.Seconds(), nil
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
	files, err := fs.Glob(deploy.Signals, "signals/*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var pack []string
	for _, f := range files {
		b, err := fs.ReadFile(deploy.Signals, f)
		if err != nil {
			return nil, err
		}
		pack = append(pack, string(b))
	}
	if len(pack) == 0 {
		return nil, errors.New("the default signal pack is empty")
	}
	idRe := regexp.MustCompile(`(?m)^id: (\S+)`)
	numRe := regexp.MustCompile(`(?m)^(\s+(?:count|level): )(\d+)`)
	dayRe := regexp.MustCompile(`(?m)^(\s+within: )(\d+)d`)
	webinarStepRe := regexp.MustCompile(`\{type: (webinar_\w+)\}`)
	supportRe := regexp.MustCompile(`(?m)^(\s+)type: support_email$`)
	out := make([]*detector.Signal, 0, n)
	for i := range n {
		src, v := pack[i%len(pack)], i/len(pack)
		if v > 0 {
			renamed := idRe.ReplaceAllString(src, fmt.Sprintf("id: ${1}-v%03d", v))
			src = numRe.ReplaceAllStringFunc(renamed, func(m string) string {
				s := numRe.FindStringSubmatch(m)
				k, _ := strconv.Atoi(s[2])
				return s[1] + strconv.Itoa(k+v%3)
			})
			src = dayRe.ReplaceAllStringFunc(src, func(m string) string {
				s := dayRe.FindStringSubmatch(m)
				k, _ := strconv.Atoi(s[2])
				return s[1] + strconv.Itoa(k+v%2) + "d"
			})
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
