package notify

import (
	"context"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// Verdicts stored in PostgreSQL reach the hub's panels through
// VerdictNews: the rep's panel and the panel of the manager who follows
// them. When its connection is killed it listens again, counts the
// failure, and the next verdict arrives.
func TestVerdictNewsListensAgainAfterItsConnectionIsKilled(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []dowser.User{{ID: "ana", Name: "Ana", Role: dowser.RoleRep}, {ID: "max", Name: "Max", Role: dowser.RoleManager}} {
		if err := store.People.PutUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.People.Subscribe(ctx, "max", "ana"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"al-1", "al-2"} {
		a := &schema.Alert{ID: id, SignalID: "s", SignalVersion: 1, Subject: "account:acme", CustomerID: "c-1", AccountID: "acme",
			Priority: "high", EventID: "evt-" + id, Time: time.Now().UTC(), Evidence: []schema.Evidence{}}
		if _, err := store.Alerts.SaveAlert(ctx, a, []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	hub, srv := newTestHubActing(t, HubConfig{}, store.Alerts, store.Alerts)
	reg := prometheus.NewRegistry()
	news, err := NewVerdictNews(VerdictNewsConfig{Source: store.Alerts, Hub: hub, Retry: 10 * time.Millisecond, MaxRetry: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- news.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	})
	ana, max := dial(t, srv, "ana", nil), dial(t, srv, "max", nil)
	for _, c := range []*websocket.Conn{ana, max} {
		if f := read(t, c); f["op"] != "hello" {
			t.Fatalf("first frame %v, want hello", f)
		}
	}
	awaitTrue(t, "listening", news.Listening)
	verdict := func(alertID string) {
		t.Helper()
		if err := store.Alerts.GiveVerdict(ctx, "ana", alertID, dowser.Verdict{Verdict: dowser.VerdictWon, Reason: "champion", Value: new(900.0)}); err != nil {
			t.Fatal(err)
		}
		for who, c := range map[string]*websocket.Conn{"ana": ana, "max": max} {
			f := read(t, c)
			if f["op"] != "verdict" || f["id"] != alertID || f["user"] != "ana" || f["verdict"] != "won" || f["reason"] != "champion" || f["value"] != 900.0 {
				t.Errorf("%s heard %v, want ana's won verdict on %s with its reason and value", who, f, alertID)
			}
		}
	}
	verdict("al-1")

	if n := pgtest.Terminate(t, url, postgres.ListenApplicationName); n != 1 {
		t.Fatalf("terminated %d listening connections, want 1", n)
	}
	awaitTrue(t, "a failure counted", func() bool { return valueOf(t, news.failures) == 1 })
	awaitTrue(t, "listening again", news.Listening)
	verdict("al-2")
	if got := valueOf(t, news.listening); got != 1 {
		t.Errorf("dowser_verdict_news_listening = %v, want 1", got)
	}
}

// awaitTrue waits up to 10 s for cond.
func awaitTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// valueOf reads a counter's or a gauge's value.
func valueOf(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue() + d.GetGauge().GetValue()
}
