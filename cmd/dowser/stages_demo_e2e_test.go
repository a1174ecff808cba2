package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/dowserhq/dowser/demo"
)

// TestEndToEndDemoMovesAccountsThroughStages runs the demo through the
// real service: the default stage model is seeded, and soon after start an
// alert of one of its signals has moved its account into that signal's
// stage, tied to the alert.
func TestEndToEndDemoMovesAccountsThroughStages(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.Demo, c.DemoRate = true, 20 })
	stageOf := map[string]string{}
	for _, st := range demo.DefaultStages().Stages {
		for _, sig := range st.Signals {
			stageOf[sig] = st.ID
		}
	}
	var model struct{ Version int }
	app.do("GET", "/v1/stages", "demo-rep-ana-token", nil, http.StatusOK, &model)
	if model.Version != 1 {
		t.Fatalf("the demo's stage model is version %d, want 1 (seeded)", model.Version)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var got struct {
			Alerts []struct {
				Alert struct {
					ID        string `json:"id"`
					SignalID  string `json:"signal_id"`
					AccountID string `json:"account_id"`
				}
			}
		}
		app.do("GET", "/v1/alerts?limit=500", "demo-admin-token", nil, http.StatusOK, &got)
		for _, l := range got.Alerts {
			a := l.Alert
			if stageOf[a.SignalID] == "" || a.AccountID == "" {
				continue
			}
			var st struct {
				Stage       string
				Transitions []struct {
					To      string
					AlertID string `json:"alert_id"`
					Cause   string
				}
			}
			app.do("GET", "/v1/accounts/"+a.AccountID+"/stage", "demo-rep-ana-token", nil, http.StatusOK, &st)
			for _, tr := range st.Transitions {
				// The demo's simulated reps may also have accepted
				// the alert's handoff, a move of its own.
				if tr.AlertID == a.ID && tr.Cause == "signal" {
					if tr.To != stageOf[a.SignalID] {
						t.Errorf("alert %s of %s moved %s to %s, want %s", a.ID, a.SignalID, a.AccountID, tr.To, stageOf[a.SignalID])
					}
					t.Logf("alert %s of %s moved %s to %s", a.ID, a.SignalID, a.AccountID, tr.To)
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes no alert of the %d stage signals has moved an account", len(stageOf))
		}
		// The alerts are stored by the pipeline: look again shortly.
		time.Sleep(500 * time.Millisecond)
	}
}
