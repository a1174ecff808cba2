package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// testClock is a clock the test moves by hand, shared by instances.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// nextAlertFrame skips frames that are not alerts (answers to acks) and
// returns the next alert.
func (c *wsClient) nextAlertFrame(within time.Duration) map[string]any {
	c.t.Helper()
	for {
		f := c.next(within)
		if f["op"] == "alert" {
			return f["alert"].(map[string]any)
		}
	}
}

// escalatedTo returns the "to" of each step in an alert's document.
func escalatedTo(alert map[string]any) []string {
	var out []string
	steps, _ := alert["escalations"].([]any)
	for _, s := range steps {
		out = append(out, fmt.Sprint(s.(map[string]any)["to"]))
	}
	return out
}

type escalationsAnswer struct {
	AlertID     string `json:"alert_id"`
	Escalations []struct {
		Step int
		Kind string
		To   []string
		At   time.Time
	}
}

// metricSum adds up a series over the instances' /metrics.
func metricSum(t *testing.T, series string, apps ...*testApp) int {
	t.Helper()
	n := 0
	for _, a := range apps {
		resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.SplitSeq(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				var x int
				fmt.Sscan(v, &x)
				n += x
			}
		}
	}
	return n
}

// The follow-up path across two instances sharing a clock the test moves:
// a high alert nobody acknowledges goes, after its 15 minutes, to the
// rep's manager's socket, then to the next present rep of the account's
// territory rules (the first rule's rep is away); each step once; an
// acknowledged alert never escalates; an account whose owner is away is
// routed to the territory's present rep.
func TestEndToEndEscalationManagerThenTerritoryOnce(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	db := pgtest.URL(t)
	clock := &testClock{t: time.Now()}
	shared := func(c *serveConfig) {
		c.KafkaBrokers = b.Addr()
		c.DatabaseURL = db
		c.FollowUp = "high=15m"
		c.FollowUpPoll = 50 * time.Millisecond
		c.followUpClock = clock.Now
	}
	appA := startApp(t, shared)
	appA.seed()
	appB := startApp(t, shared)
	awaitSplit(t, 3, appA, appB)

	appA.do("PUT", "/v1/users/mgr-max", adminToken, map[string]string{"name": "Max", "role": "manager", "token": token("mgr-max")}, http.StatusOK, nil)
	appA.do("PUT", "/v1/users/rep-cara", adminToken, map[string]string{"name": "Cara", "role": "rep", "token": token("rep-cara")}, http.StatusOK, nil)
	appA.do("PUT", "/v1/managers/mgr-max/subscriptions/rep-ana", adminToken, nil, http.StatusNoContent, nil)
	appA.do("PUT", "/v1/accounts/acme", adminToken, map[string]string{"name": "Acme", "owner": "rep-ana", "region": "emea"}, http.StatusOK, nil)
	appA.do("PUT", "/v1/accounts/initech", adminToken, map[string]string{"name": "Initech", "owner": "rep-cara", "region": "emea"}, http.StatusOK, nil)
	appA.do("PUT", "/v1/territory-rules/emea-1", adminToken, map[string]any{"priority": 1, "region": "emea", "rep": "rep-cara"}, http.StatusOK, nil)
	appA.do("PUT", "/v1/territory-rules/emea-2", adminToken, map[string]any{"priority": 2, "region": "emea", "rep": "rep-ben"}, http.StatusOK, nil)
	// Cara is away for a year: she sets it herself; Ben may not, and a
	// bad calendar is refused naming the field.
	away := map[string]any{"time_zone": "Europe/Madrid", "away_until": time.Now().AddDate(1, 0, 0).Format(time.RFC3339)}
	appA.do("PUT", "/v1/users/rep-cara/calendar", token("rep-ben"), away, http.StatusForbidden, nil)
	var refused struct{ Problems []struct{ Path string } }
	appA.do("PUT", "/v1/users/rep-cara/calendar", token("rep-cara"), map[string]any{"time_zone": "Mars/Base"}, http.StatusBadRequest, &refused)
	if len(refused.Problems) != 1 || refused.Problems[0].Path != "time_zone" {
		t.Errorf("bad time zone refused with %+v, want a problem at time_zone", refused)
	}
	appA.do("PUT", "/v1/users/rep-cara/calendar", token("rep-cara"), away, http.StatusOK, nil)

	ana := appA.connect("rep-ana")
	max := appB.connect("mgr-max")
	ben := appA.connect("rep-ben")
	w := appA.writer()
	now := time.Now()
	// The third view fires one alert, the fourth another (cooldown 0).
	appA.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-4*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-3", now.Add(-time.Minute))),
	)
	_, first := ana.nextAlert(5 * time.Second)
	_, second := ana.nextAlert(5 * time.Second)
	firstID, secondID := first["id"].(string), second["id"].(string)
	max.nextAlertFrame(5 * time.Second)
	max.nextAlertFrame(5 * time.Second)
	ana.send(map[string]any{"op": "ack", "id": secondID})
	if f := ana.next(5 * time.Second); f["op"] != "acked" {
		t.Fatalf("ack answered %v", f)
	}

	// Ten minutes on: nothing is due yet.
	clock.Set(now.Add(10 * time.Minute))
	var got escalationsAnswer
	// Sixteen: the manager's socket gets the unacknowledged alert again,
	// with the step in it.
	clock.Set(now.Add(16 * time.Minute))
	esc := max.nextAlertFrame(30 * time.Second)
	if esc["id"] != firstID || fmt.Sprint(escalatedTo(esc)) != "[[mgr-max]]" {
		t.Fatalf("mgr-max got %v with escalations %v, want %s escalated to [mgr-max]", esc["id"], escalatedTo(esc), firstID)
	}
	appB.do("GET", "/v1/alerts/"+firstID+"/escalations", token("mgr-max"), nil, http.StatusOK, &got)
	if len(got.Escalations) != 1 || got.Escalations[0].Kind != "managers" || !got.Escalations[0].At.Equal(now.Add(16*time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("escalations of %s = %+v, want one step to the managers at the clock's time", firstID, got)
	}
	appA.do("GET", "/v1/alerts/"+firstID+"/escalations", token("rep-cara"), nil, http.StatusNotFound, nil)

	// Thirty-two: the next present rep of the territory: Ben (Cara, the
	// first rule's rep, is away).
	clock.Set(now.Add(32 * time.Minute))
	esc = ben.nextAlertFrame(30 * time.Second)
	if esc["id"] != firstID || fmt.Sprint(escalatedTo(esc)) != "[[mgr-max] [rep-ben]]" {
		t.Fatalf("rep-ben got %v with escalations %v, want %s escalated to mgr-max then rep-ben", esc["id"], escalatedTo(esc), firstID)
	}
	clock.Set(now.Add(2 * time.Hour))
	appA.do("GET", "/v1/alerts/"+firstID+"/escalations", adminToken, nil, http.StatusOK, &got)
	if len(got.Escalations) != 2 || got.Escalations[1].Kind != "territory" || fmt.Sprint(got.Escalations[1].To) != "[rep-ben]" {
		t.Errorf("escalations of %s = %+v, want the territory step to rep-ben second", firstID, got)
	}
	appA.do("GET", "/v1/alerts/"+secondID+"/escalations", token("rep-ana"), nil, http.StatusOK, &got)
	if len(got.Escalations) != 0 {
		t.Errorf("the acknowledged alert escalated: %+v", got)
	}
	// The listing carries the steps too.
	var listed struct {
		Alerts []struct{ Alert map[string]any }
	}
	appA.do("GET", "/v1/alerts?mine=true", token("rep-ben"), nil, http.StatusOK, &listed)
	if len(listed.Alerts) != 1 || len(escalatedTo(listed.Alerts[0].Alert)) != 2 {
		t.Errorf("rep-ben's listing = %+v, want the escalated alert with both steps", listed)
	}
	// Each step once across the two instances.
	for series, want := range map[string]int{
		`dowser_escalations_total{priority="high",step="managers",to="someone"}`:  1,
		`dowser_escalations_total{priority="high",step="territory",to="someone"}`: 1,
	} {
		if n := metricSum(t, series, appA, appB); n != want {
			t.Errorf("%s over both instances = %d, want %d", series, n, want)
		}
	}
	if f, ok := max.pending(); ok {
		t.Errorf("mgr-max received more: %v", f)
	}

	// Cara owns Initech but is away: the territory's present rep gets it.
	appA.produce(w,
		kv(pricingView("initech", "i-1", now.Add(-3*time.Minute))),
		kv(pricingView("initech", "i-2", now.Add(-2*time.Minute))),
		kv(pricingView("initech", "i-1", now.Add(-time.Minute))),
	)
	if a := ben.nextAlertFrame(10 * time.Second); a["account_id"] != "initech" || a["rep"] != "rep-ben" {
		t.Errorf("rep-ben got %v (rep %v), want Initech's alert routed to him", a["account_id"], a["rep"])
	}
	if n := appA.alertCount("rep-cara"); n != 0 {
		t.Errorf("rep-cara, away, was addressed %d alerts", n)
	}
}
