package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/dowserhq/dowser/demo"
)

// TestEndToEndDemoShowsSilenceAndChange runs the demo (its seed, the
// back-dated history and the traffic) through the real service, Kafka and
// PostgreSQL: within a minute or so of start, the rep of the demo's two
// history accounts has an outage-then-silence alert (churn risk, from a
// silence) and a usage-surge alert (expansion, from a change). The rep
// logs in with the token the demo prints.
func TestEndToEndDemoShowsSilenceAndChange(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.Demo, c.DemoRate = true, 20 })
	want := map[string]string{"outage-then-silence": demo.SilentAccount, "usage-surge": demo.SurgingAccount}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got struct {
			Alerts []struct {
				Alert struct {
					SignalID  string `json:"signal_id"`
					AccountID string `json:"account_id"`
				}
			}
		}
		app.do("GET", "/v1/alerts?limit=500", "demo-rep-cho-token", nil, http.StatusOK, &got)
		seen := map[string]int{}
		for _, l := range got.Alerts {
			a := l.Alert
			if acct, ok := want[a.SignalID]; ok && a.AccountID == acct {
				seen[a.SignalID]++
			}
		}
		if len(seen) == len(want) {
			for s, n := range seen {
				if n != 1 {
					t.Errorf("%d %s alerts, want 1", n, s)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes rep-cho has %v of the alerts %v", seen, want)
		}
		// The alerts are stored by the pipeline: look again shortly.
		time.Sleep(500 * time.Millisecond)
	}
}
