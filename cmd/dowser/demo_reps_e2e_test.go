package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestEndToEndDemoRepsAct runs the demo through the real service: within
// a minute or two the simulated reps have judged an alert, which Maya's
// open panel hears as it would a person's verdict, and her team view
// shows times to acknowledge (at least the 5 s the reps wait), while
// Ana's alerts stay as delivered.
func TestEndToEndDemoRepsAct(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.Demo, c.DemoRate = true, 20 })
	h := http.Header{"Authorization": {"Bearer demo-mgr-maya-token"}}
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+app.HTTPAddr()+"/v1/stream", h)
	if err != nil {
		t.Fatalf("dialing the stream as mgr-maya: %v (%v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	verdicts := make(chan map[string]any, 1)
	go func() {
		for {
			var f map[string]any
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			if f["op"] == "verdict" {
				select {
				case verdicts <- f:
				default:
				}
			}
		}
	}()
	select {
	case f := <-verdicts:
		if u := f["user"]; u != "rep-ben" && u != "rep-cho" {
			t.Errorf("verdict frame %v, want one of rep-ben or rep-cho, whom Maya follows", f)
		}
		t.Logf("Maya's panel heard %v", f)
	case <-time.After(2 * time.Minute):
		t.Fatal("after 2 minutes Maya's panel heard no verdict of the demo reps")
	}

	var team struct {
		Reps []struct {
			ID               string
			Acked, Verdicts  int64
			MedianAckSeconds *float64 `json:"median_ack_seconds"`
		}
	}
	app.do("GET", "/v1/team", "demo-mgr-maya-token", nil, http.StatusOK, &team)
	judged := false
	for _, r := range team.Reps {
		if r.Verdicts == 0 {
			continue
		}
		judged = true
		if r.Acked == 0 || r.MedianAckSeconds == nil || *r.MedianAckSeconds < 5 {
			t.Errorf("team view of %s = %+v, want acknowledgements at least the reps' 5 s after delivery", r.ID, r)
			continue
		}
		t.Logf("%s: %d acked, %d verdicts, median %.1f s to acknowledge", r.ID, r.Acked, r.Verdicts, *r.MedianAckSeconds)
	}
	if !judged {
		t.Errorf("team view %+v shows no verdict after one was told", team)
	}
	var ana struct{ Alerts []struct{ Acked bool } }
	app.do("GET", "/v1/alerts?state=acked&limit=10", "demo-rep-ana-token", nil, http.StatusOK, &ana)
	if len(ana.Alerts) > 0 {
		t.Errorf("rep-ana has %d acknowledged alerts, want hers left to the person logged in as her", len(ana.Alerts))
	}
}
