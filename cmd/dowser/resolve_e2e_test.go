package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/kafka"
)

// anonymousView is a pricing view by an anonymous visitor, keyed as a web
// tracker keys it: by the anonymous id, with no account.
func anonymousView(id, anon string, at time.Time) [2][]byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "type": "page_view", "time": at.UTC().Format(time.RFC3339Nano), "source": "web",
		"customer":   map[string]any{"anonymous_id": anon},
		"properties": map[string]any{"url": "https://example.com/pricing", "title": "Pricing"},
		"content_id": "pricing-page",
	})
	return kv([]byte(anon), b)
}

// login links anon to customer of account; key is what the tracker keys
// it by.
func login(id, key, anon, customer, account string, at time.Time) [2][]byte {
	b, _ := json.Marshal(map[string]any{
		"id": id, "type": "identify", "time": at.UTC().Format(time.RFC3339Nano), "source": "web",
		"customer": map[string]any{"id": customer, "anonymous_id": anon, "account_id": account},
	})
	return kv([]byte(key), b)
}

// anonymousIDApart returns an anonymous id whose partition (of n) is
// none of the keys'.
func anonymousIDApart(prefix string, n int, keys ...string) string {
	for i := 0; ; i++ {
		anon := fmt.Sprintf("%s-%d", prefix, i)
		if !slices.ContainsFunc(keys, func(k string) bool { return partitionOf(k, n) == partitionOf(anon, n) }) {
			return anon
		}
	}
}

func TestEndToEndResolvedIdentityCountsPreLoginViewsAcrossPartitions(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.Partitions, c.ResolveIdentities = 6, true })
	app.seed()
	app.putSignal("pricing-person", `
id: pricing-person
owner: mkt-jane
audience: any
scope: customer
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 1h
`)
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	// Visitor 2 logs in with an event the tracker keys by the account;
	// visitor 1 with one keyed by the anonymous id, as the views. Neither
	// visitor's partition is the account's or the customer's. Each
	// visitor's link is awaited on the resolved topic, so that the
	// account's partition sees the views in a known order (the signals
	// judge a late event by the window ending at it).
	anon1 := anonymousIDApart("ajs-a", 6, "acme", "c-1")
	anon2 := anonymousIDApart("ajs-b", 6, "acme", "c-2", anon1)
	app.produce(w, anonymousView("b1", anon2, now.Add(-8*time.Minute)))
	app.produce(w, login("login-2", "acme", anon2, "c-2", "acme", now.Add(-4*time.Minute)))
	app.awaitResolved("acme", "b1", "login-2")
	app.produce(w,
		anonymousView("a1", anon1, now.Add(-10*time.Minute)),
		anonymousView("a2", anon1, now.Add(-9*time.Minute)),
	)
	app.produce(w, login("login-1", anon1, anon1, "c-1", "acme", now.Add(-5*time.Minute)))
	app.awaitResolved("acme", "a1", "a2", "login-1")
	// The customer's own view after login, keyed by its account: with the
	// visitor's two before, three for c-1; four for acme.
	k, v := pricingView("acme", "c-1", now.Add(-time.Minute))
	app.produce(w, kv(k, v))
	var view struct{ ID string }
	_ = json.Unmarshal(v, &view)

	var person, account []map[string]any
	for len(person)+len(account) < 2 {
		_, a := ana.nextAlert(10 * time.Second)
		switch a["signal_id"] {
		case "pricing-person":
			person = append(person, a)
		case "pricing-research":
			account = append(account, a)
		}
	}
	if len(person) != 1 || person[0]["subject"] != "customer:c-1" || person[0]["count"] != 3.0 ||
		!slices.Equal(evidenceIDs(person[0]), []string{"a1", "a2", view.ID}) {
		t.Errorf("customer alerts = %v: want one, customer:c-1 counting the pre-login views a1, a2 and %s", person, view.ID)
	}
	// Visitor 2 (linked by an event keyed by the account) and visitor 1
	// count as acme's: four views.
	if len(account) != 1 || account[0]["subject"] != "account:acme" || account[0]["count"] != 4.0 ||
		!slices.Equal(evidenceIDs(account[0]), []string{"a1", "a2", "b1", view.ID}) {
		t.Errorf("account alerts = %v: want one, account:acme counting a1, a2, b1 and %s", account, view.ID)
	}
}

// evidenceIDs are the event ids of an alert frame's evidence, sorted.
func evidenceIDs(a map[string]any) []string {
	var ids []string
	for _, e := range a["evidence"].([]any) {
		ids = append(ids, e.(map[string]any)["event_id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// awaitResolved waits until the events ids are on the resolved topic in
// the partition of key.
func (a *testApp) awaitResolved(key string, ids ...string) {
	a.t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: a.Brokers(), Topic: kafka.ResolvedTopic("dowser.events"),
		Partition: partitionOf(key, a.cfg.Partitions), MaxWait: 50 * time.Millisecond,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for len(want) > 0 {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			a.t.Fatalf("awaiting %q on the resolved topic: %v (still missing %v)", ids, err, want)
		}
		var ev struct{ ID string }
		_ = json.Unmarshal(m.Value, &ev)
		delete(want, ev.ID)
	}
}
