package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/postgres/pgtest"
)

// silenceEvents makes about n events in time order, none late: people
// attend the webinar (about one event in twenty), half of them view
// pricing 10 minutes later, and blog views of others keep time moving;
// then two hours of blog views over every account, so that every
// partition's event time passes every wait's deadline by events alone.
// The silence (the "quiet" chaos signal, 30 minutes) is then decided by
// event time with a margin of minutes, whatever the processes' timing.
func silenceEvents(rng *rand.Rand, n int, step time.Duration) []chaosEvent {
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var out, later []chaosEvent
	person := func(p int) (string, string) {
		a := p % 500
		return fmt.Sprintf("acct-%d", a), fmt.Sprintf("c-%d-%d", a, p/500)
	}
	add := func(typ, url string, p int, at time.Time) chaosEvent {
		var ev chaosEvent
		ev.ID, ev.Type, ev.Time = fmt.Sprintf("s%d", len(out)+len(later)), typ, at
		ev.Customer.AccountID, ev.Customer.ID = person(p)
		if url != "" {
			ev.Properties = map[string]string{"url": url}
		}
		return ev
	}
	people := 0
	for len(out) < n {
		clock = clock.Add(step)
		for len(later) > 0 && !later[0].Time.After(clock) {
			out = append(out, later[0])
			later = later[1:]
		}
		if rng.IntN(20) == 0 {
			out = append(out, add("webinar_attended", "", people, clock))
			if rng.IntN(2) == 0 {
				later = append(later, add("page_view", "https://x.example/pricing", people, clock.Add(10*time.Minute)))
			}
			people++
			continue
		}
		out = append(out, add("page_view", "https://x.example/blog/"+strconv.Itoa(rng.IntN(50)), rng.IntN(max(people, 1)), clock))
	}
	out = append(out, later...)
	clock = out[len(out)-1].Time
	for i := range 4000 {
		clock = clock.Add(2 * time.Second)
		out = append(out, add("page_view", "https://x.example/blog/end", i%500, clock))
	}
	return out
}

// silenceOracle: every webinar attendance with no pricing view of the
// same person in the 30 minutes after it fires "quiet" for that person.
func silenceOracle(events []chaosEvent) map[string]bool {
	pricing := map[string][]time.Time{}
	for _, x := range events {
		if x.Type == "page_view" && strings.Contains(x.Properties["url"], "/pricing") {
			pricing[x.Customer.ID] = append(pricing[x.Customer.ID], x.Time)
		}
	}
	want := map[string]bool{}
	for _, e := range events {
		if e.Type != "webinar_attended" {
			continue
		}
		ended := slices.ContainsFunc(pricing[e.Customer.ID], func(t time.Time) bool {
			return t.After(e.Time) && !t.After(e.Time.Add(30*time.Minute))
		})
		if !ended {
			want["quiet customer:"+e.Customer.ID+" "+e.ID] = true
		}
	}
	return want
}

// TestChaosKilledDetectorFiresSilencesExactlyOnce kills the detector
// while silences wait: the waits survive in the checkpoints (and the
// cold rows), each fires once, none that an expected event ended fires.
func TestChaosKilledDetectorFiresSilencesExactlyOnce(t *testing.T) {
	t.Parallel() // see TestMain
	r := newChaosRun(t, pgtest.URL(t), 1)
	// As many events as the other crash tests: the production must
	// outlast the kills.
	n := 200_000
	if v, _ := strconv.Atoi(os.Getenv("DOWSER_CHAOS_EVENTS")); v > 0 {
		n = v
	}
	r.events = silenceEvents(r.rng, n, 500*time.Millisecond)
	r.want = oracle(r.events)
	quiet := silenceOracle(r.events)
	for k := range quiet {
		r.want[k] = true
	}
	if len(quiet) < 100 {
		t.Fatalf("only %d silences expected: the run tests little", len(quiet))
	}
	kills := 3
	if k, err := strconv.Atoi(os.Getenv("DOWSER_CHAOS_KILLS")); err == nil {
		kills = k
	}
	serve, addr := r.serve("serve")
	produced := r.produce()
	for range kills {
		awaitSplitOverHTTP(t, 4, addr)
		r.pause()
		serve.kill()
		serve, addr = r.serve("serve")
	}
	r.finish(produced, fmt.Sprintf("%d SIGKILLs, %d silences expected", kills, len(quiet)))
}
