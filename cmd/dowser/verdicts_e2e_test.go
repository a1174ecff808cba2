package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// nextNews returns the panel's next frame but alert frames (the alerts
// saved for the test reach the panels through the alerts topic, whenever).
func (c *wsClient) nextNews() map[string]any {
	c.t.Helper()
	for {
		if f := c.next(5 * time.Second); f["op"] != "alert" {
			return f
		}
	}
}

// A verdict given through instance A reaches, exactly once, the panels
// connected to instance B: the rep's second device and the manager who
// follows the rep; the panel that gave it over the stream hears its
// answer and not the news. So does an acknowledgement, the first time
// only. Each panel's next frame after the news is the answer to its own
// next action, so no news came twice.
func TestEndToEndVerdictNewsAcrossInstances(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	db := pgtest.URL(t)
	shared := func(c *serveConfig) {
		c.KafkaBrokers = b.Addr()
		c.DatabaseURL = db
	}
	appA := startApp(t, shared)
	appA.seed()
	appB := startApp(t, shared)
	appA.do("PUT", "/v1/users/mgr-max", adminToken, map[string]string{"name": "Max", "role": "manager", "token": token("mgr-max")}, http.StatusOK, nil)
	appA.do("PUT", "/v1/managers/mgr-max/subscriptions/rep-ana", adminToken, nil, http.StatusNoContent, nil)
	for _, id := range []string{"al-news-1", "al-news-2", "al-news-3"} {
		al := &schema.Alert{ID: id, SignalID: "pricing-research", SignalVersion: 1, Subject: "account:acme", CustomerID: "c-1",
			AccountID: "acme", Priority: schema.PriorityHigh, Message: "acme", EventID: "evt-" + id, Time: time.Now(), Rep: "rep-ana"}
		if _, err := appA.store.Alerts.SaveAlert(context.Background(), al, []string{"rep-ana"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []*testApp{appA, appB} {
		await(t, time.Minute, "both instances listening for verdict news", func() bool { return app.metric("dowser_verdict_news_listening") == 1 })
	}
	giver, anaA := appA.connect("rep-ana"), appA.connect("rep-ana")
	anaB, max := appB.connect("rep-ana"), appB.connect("mgr-max")
	panels := map[string]*wsClient{"rep-ana's other panel on A": anaA, "rep-ana's panel on B": anaB, "mgr-max on B": max}
	heard := func(who string, c *wsClient, id, verdict, reason string) {
		t.Helper()
		f := c.nextNews()
		if r, _ := f["reason"].(string); f["op"] != "verdict" || f["id"] != id || f["user"] != "rep-ana" || f["verdict"] != verdict || r != reason {
			t.Fatalf("%s heard %v, want rep-ana's %s verdict on %s (reason %q)", who, f, verdict, id, reason)
		}
	}

	// Over the stream on A.
	giver.send(map[string]any{"op": "feedback", "id": "al-news-1", "verdict": "useful"})
	if f := giver.nextNews(); f["op"] != "feedback_saved" {
		t.Fatalf("the giver heard %v, want feedback_saved", f)
	}
	for who, c := range panels {
		heard(who, c, "al-news-1", "useful", "")
	}
	// Over REST on A, with a reason: every panel of the rep hears it.
	appA.do("PUT", "/v1/alerts/al-news-2/verdict", token("rep-ana"), map[string]string{"verdict": "not_useful", "reason": "timing"}, http.StatusOK, nil)
	panels["the giver on A"] = giver
	for who, c := range panels {
		heard(who, c, "al-news-2", "not_useful", "timing")
	}
	// An acknowledgement over the stream on A, then the same again: the
	// others hear it once, the acker only its answers.
	delete(panels, "the giver on A")
	for range 2 {
		giver.send(map[string]any{"op": "ack", "id": "al-news-3"})
		if f := giver.nextNews(); f["op"] != "acked" || f["id"] != "al-news-3" {
			t.Fatalf("the acker heard %v, want acked", f)
		}
	}
	for who, c := range panels {
		if f := c.nextNews(); len(f) != 3 || f["op"] != "acknowledged" || f["id"] != "al-news-3" || f["user"] != "rep-ana" {
			t.Fatalf("%s heard %v, want rep-ana's acknowledgement of al-news-3", who, f)
		}
	}
	panels["the giver on A"] = giver
	// Exactly once: the next frame each hears is the answer to its own.
	for who, c := range panels {
		c.send(map[string]any{"op": "seen", "id": "al-news-1"})
		if f := c.nextNews(); f["op"] != "seen_ok" && f["op"] != "error" {
			t.Errorf("%s heard %v after the news, want the answer to its seen frame", who, f)
		}
	}
}
