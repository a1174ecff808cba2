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

// visitor is a web visitor of the identity chaos test: anonymous, then
// logged in as customer of account.
type visitor struct{ anon, customer, account string }

// withVisitors adds to events, every so many of them, a visitor's session
// at that point of the clock, all keyed by the anonymous id as a web
// tracker keys it: two pricing views while anonymous (too few to fire
// anything as the visitor), the login, and one to three views after it,
// still with only the anonymous id. Each visitor has an account of its
// own, so that its events reach the account's partition in one order.
func withVisitors(rng *rand.Rand, events []chaosEvent, visitors int) ([]chaosEvent, map[string]visitor) {
	who := map[string]visitor{}
	every := max(1, len(events)/visitors)
	out := make([]chaosEvent, 0, len(events)+6*visitors)
	for i, base := range events {
		out = append(out, base)
		if i%every != 0 || len(who) == visitors {
			continue
		}
		v := visitor{anon: fmt.Sprintf("anon-%d", len(who)), customer: fmt.Sprintf("vc-%d", len(who)), account: fmt.Sprintf("vacct-%d", len(who))}
		who[v.anon] = v
		at := base.Time
		add := func(typ string, linked bool) {
			var ev chaosEvent
			ev.ID = fmt.Sprintf("%s-%d", v.anon, len(out))
			ev.Type, ev.Time = typ, at
			ev.Customer.AnonymousID = v.anon
			if linked {
				ev.Customer.ID, ev.Customer.AccountID = v.customer, v.account
			}
			if typ == "page_view" {
				ev.Properties = map[string]string{"url": "https://x.example/pricing"}
			}
			out = append(out, ev)
			at = at.Add(time.Duration(1+rng.IntN(120)) * time.Second)
		}
		add("page_view", false)
		add("page_view", false)
		add("identify", true)
		for range 1 + rng.IntN(3) {
			add("page_view", false)
		}
	}
	return out, who
}

// resolved is events as the detector should count them: every event of
// a visitor as its customer's and its account's.
func resolved(events []chaosEvent, who map[string]visitor) []chaosEvent {
	out := make([]chaosEvent, len(events))
	for i, e := range events {
		if v, ok := who[e.Customer.AnonymousID]; ok {
			e.Customer.ID, e.Customer.AccountID = v.customer, v.account
		}
		out[i] = e
	}
	return out
}

func TestChaosResolvedIdentitiesSurviveKills(t *testing.T) {
	// The resolved topic mixes the source partitions, which a kill puts
	// behind one another: the events span less than the signals' windows,
	// as on a real clock a restart's lag is short beside them, so that no
	// partition's time runs past a visitor's history before it arrives.
	r := newChaosRunStep(t, pgtest.URL(t), 20_000, 200*time.Millisecond)
	r.resolve = true
	var who map[string]visitor
	r.events, who = withVisitors(r.rng, r.events, 800)
	r.want = oracle(resolved(r.events, who))
	fromVisitors := 0
	for k := range r.want {
		if strings.Contains(k, " account:vacct-") {
			fromVisitors++
		}
	}
	// Each visitor's account fires at its first view after login, counting
	// the two before: only if the history was re-emitted.
	if fromVisitors != len(who) {
		t.Fatalf("oracle expects %d alerts of visitors' accounts, want one per visitor (%d)", fromVisitors, len(who))
	}
	kills := 3
	if k, err := strconv.Atoi(os.Getenv("DOWSER_CHAOS_KILLS")); err == nil {
		kills = k
	}
	serve, addr := r.serve("serve")
	// A share of the events before each kill, so that every kill finds
	// links being made and messages in flight, not a stage at rest.
	share := len(r.events)/(kills+1) + 1
	chunk := func(k int) []chaosEvent { return r.events[min(k*share, len(r.events)):min((k+1)*share, len(r.events))] }
	for k := range kills {
		if err := <-r.produceAll(slices.Values(chunk(k))); err != nil {
			t.Fatal(err)
		}
		awaitSplitOverHTTP(t, 4, addr)
		r.pause()
		serve.kill()
		serve, addr = r.serve("serve")
	}
	produced := r.produceAll(slices.Values(chunk(kills)))
	r.finish(produced, fmt.Sprintf("%d visitors, %d SIGKILLs", len(who), kills))
}
