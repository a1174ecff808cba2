package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/formats"
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
	t.Parallel() // see TestMain
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

// stageCaughtUp reports whether the resolution stage has committed the end
// of every source topic and the detector the end of the resolved topic.
// The stage commits only what it has passed on: once it is at the end of
// every source, the resolved topic holds all of it.
func (r *chaosRun) stageCaughtUp() (bool, error) {
	groups := map[string]string{"dowser.events": "dowser.resolve"}
	for _, s := range r.sources {
		src, err := formats.ParseSource(s)
		if err != nil {
			return false, err
		}
		groups[src.Topic] = "dowser.resolve." + src.Topic
	}
	for topic, group := range groups {
		if done, err := caughtUp(r.ctx, r.kafkaAddr, topic, group); err != nil || !done {
			return false, err
		}
	}
	return caughtUp(r.ctx, r.kafkaAddr, "dowser.events.resolved", "dowser")
}

// inThreeFormats produces each account's events to one of three source
// topics, by account: the events topic in Dowser's envelope, a Segment
// topic, a Snowplow topic (the account from an entity, mapped).
func inThreeFormats(e chaosEvent) (string, []byte) {
	var a int
	fmt.Sscanf(e.Customer.AccountID, "acct-%d", &a)
	at := e.Time.UTC().Format(time.RFC3339Nano)
	switch a % 3 {
	case 1:
		m := map[string]any{"type": "page", "messageId": e.ID, "timestamp": at, "userId": e.Customer.ID,
			"context": map[string]any{"groupId": e.Customer.AccountID}, "properties": map[string]any{"url": e.Properties["url"]}}
		if e.Type != "page_view" {
			m["type"], m["event"], m["properties"] = "track", e.Type, map[string]any{}
		}
		b, _ := json.Marshal(m)
		return "web.segment", b
	case 2:
		m := map[string]any{"event_id": e.ID, "event_name": e.Type, "derived_tstamp": at, "user_id": e.Customer.ID,
			"app_id": "chaos", "contexts_com_acme_account_1": []any{map[string]any{"id": e.Customer.AccountID}}}
		if u := e.Properties["url"]; u != "" {
			m["page_url"] = u
		}
		b, _ := json.Marshal(m)
		return "app.snowplow", b
	}
	b, _ := json.Marshal(e)
	return "dowser.events", b
}

// TestChaosSeveralSourceTopicsSurviveKills reads three source topics in
// three formats, without identity resolution (the stage only re-keys),
// and kills the instance three times while they are produced: every
// expected alert is stored exactly once. Each account's events are in one
// topic, so that their order, which the oracle follows, is the topic's.
func TestChaosSeveralSourceTopicsSurviveKills(t *testing.T) {
	t.Parallel() // see TestMain
	// The stage interleaves the topics, which a kill puts behind one
	// another: the events span less than the signals' windows, as in the
	// identity test.
	r := newChaosRunStep(t, pgtest.URL(t), 20_000, 100*time.Millisecond)
	r.sources = []string{"topic=web.segment,format=segment", "topic=app.snowplow,format=snowplow,account_id=contexts_com_acme_account_1.0.id"}
	r.encode = inThreeFormats
	kills := 3
	if k, err := strconv.Atoi(os.Getenv("DOWSER_CHAOS_KILLS")); err == nil {
		kills = k
	}
	serve, addr := r.serve("serve")
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
	if n := r.finish(produced, fmt.Sprintf("3 source topics, %d SIGKILLs", kills)); n == 0 {
		t.Error("no alert stored")
	}
}
