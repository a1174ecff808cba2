package main

import (
	"net/http"
	"testing"
	"time"
)

// TestEndToEndDemoRepsAct runs the demo through the real service: within
// a minute or two the simulated reps have acknowledged and judged alerts,
// so that Maya's team view shows times to acknowledge (at least the 5 s
// the reps wait), while Ana's alerts stay as delivered.
func TestEndToEndDemoRepsAct(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.Demo, c.DemoRate = true, 20 })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var team struct {
			Reps []struct {
				ID               string
				Acked, Verdicts  int64
				MedianAckSeconds *float64 `json:"median_ack_seconds"`
			}
		}
		app.do("GET", "/v1/team", "demo-mgr-maya-token", nil, http.StatusOK, &team)
		done := false
		for _, r := range team.Reps {
			if r.Acked > 0 && r.Verdicts > 0 && r.MedianAckSeconds != nil {
				if *r.MedianAckSeconds < 5 {
					t.Errorf("%s's median time to acknowledge is %.1f s, want at least the reps' 5 s delay", r.ID, *r.MedianAckSeconds)
				}
				t.Logf("%s: %d acked, %d verdicts, median %.1f s to acknowledge", r.ID, r.Acked, r.Verdicts, *r.MedianAckSeconds)
				done = true
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes the demo reps acted on nothing: team %+v", team)
		}
		// The reps act every few seconds: look again shortly.
		time.Sleep(500 * time.Millisecond)
	}
	var ana struct{ Alerts []struct{ Acked bool } }
	app.do("GET", "/v1/alerts?state=acked&limit=10", "demo-rep-ana-token", nil, http.StatusOK, &ana)
	if len(ana.Alerts) > 0 {
		t.Errorf("rep-ana has %d acknowledged alerts, want hers left to the person logged in as her", len(ana.Alerts))
	}
}
