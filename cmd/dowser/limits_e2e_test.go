package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const previewDoc = `
id: two-views
owner: mkt-jane
scope: account
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 2
    within: 1h
`

type previewAnswer struct {
	Status     int
	RetryAfter string
	Events     int64
	Stopped    string
	Error      string
}

// postPreview posts a preview as mkt-jane and returns its answer.
func postPreview(t *testing.T, addr string) previewAnswer {
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/signals/preview?since=1h", strings.NewReader(previewDoc))
	if err != nil {
		t.Error(err)
		return previewAnswer{}
	}
	req.Header.Set("Authorization", "Bearer "+token("mkt-jane"))
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return previewAnswer{}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := previewAnswer{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(data, &a); err != nil {
		t.Errorf("preview answer %s: %v", data, err)
	}
	return a
}

// TestEndToEndPreviewsAreBounded: at most --max-previews previews run at
// once (a third is answered 429 with Retry-After), each reads at most
// --max-preview-events events and says so.
func TestEndToEndPreviewsAreBounded(t *testing.T) {
	hold := make(chan struct{})
	started := make(chan struct{}, 8)
	app := startApp(t, func(c *serveConfig) {
		c.MaxPreviews = 2
		c.MaxPreviewEvents = 4
		c.previewStarted = func(ctx context.Context) {
			started <- struct{}{}
			select {
			case <-hold:
			case <-ctx.Done():
			}
		}
	})
	app.seed()
	w := app.writer()
	now := time.Now()
	var msgs [][2][]byte
	for i := range 10 {
		msgs = append(msgs, kv(pricingView([]string{"acme", "globex", "initech"}[i%3], "c-1", now.Add(-time.Duration(10-i)*time.Second))))
	}
	app.produce(w, msgs...)

	answers := make(chan previewAnswer, 2)
	for range 2 {
		go func() { answers <- postPreview(t, app.HTTPAddr()) }()
	}
	for range 2 {
		select {
		case <-started:
		case <-time.After(30 * time.Second):
			t.Fatal("two previews did not start within 30s")
		}
	}
	third := postPreview(t, app.HTTPAddr())
	if third.Status != http.StatusTooManyRequests || third.RetryAfter == "" || !strings.Contains(third.Error, "--max-previews") {
		t.Errorf("third preview = %+v, want 429 with Retry-After naming --max-previews", third)
	}
	close(hold)
	for range 2 {
		a := <-answers
		if a.Status != http.StatusOK || a.Events != 4 || !strings.Contains(a.Stopped, "newest 4 of the 10 events") || !strings.Contains(a.Stopped, "--max-preview-events") {
			t.Errorf("held preview = %+v, want 200 over the newest 4 of 10 events, saying so", a)
		}
	}
	// The slots are free again.
	if a := postPreview(t, app.HTTPAddr()); a.Status != http.StatusOK {
		t.Errorf("preview after the others = %+v, want 200", a)
	}
}

// TestEndToEndPreviewStopsAtItsTimeLimit: a preview that reaches
// --preview-timeout answers with what it read and says why it stopped.
func TestEndToEndPreviewStopsAtItsTimeLimit(t *testing.T) {
	app := startApp(t, func(c *serveConfig) {
		c.PreviewTimeout = 500 * time.Millisecond
		// Events are read only once the time limit has passed.
		c.previewStarted = func(ctx context.Context) { <-ctx.Done() }
	})
	app.seed()
	app.produce(app.writer(), kv(pricingView("acme", "c-1", time.Now().Add(-time.Minute))))
	a := postPreview(t, app.HTTPAddr())
	if a.Status != http.StatusOK || !strings.Contains(a.Stopped, "stopped after 500ms") || !strings.Contains(a.Stopped, "--preview-timeout") {
		t.Errorf("preview = %+v, want 200 saying it stopped after 500ms (--preview-timeout)", a)
	}
}

// TestEndToEndEnabledSignalsAreCapped: saving or enabling a signal beyond
// --max-enabled-signals is refused with 409, naming the limit and the flag;
// saving it disabled is not, and a freed slot can be used.
func TestEndToEndEnabledSignalsAreCapped(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.MaxEnabledSignals = 2 })
	app.seed() // pricing-research: the first enabled signal
	doc := func(id string) string {
		return "id: " + id + "\nowner: mkt-jane\nwhen: {threshold: {match: {type: page_view}, count: 2, within: 1h}}\n"
	}
	app.putSignal("second", doc("second"))
	var refused struct{ Error string }
	app.do("PUT", "/v1/signals/third", adminToken, doc("third"), http.StatusConflict, &refused)
	want := `signal "third" cannot be enabled: 2 signals are enabled, the most this installation allows (--max-enabled-signals, DOWSER_MAX_ENABLED_SIGNALS)`
	if !strings.Contains(refused.Error, want) {
		t.Errorf("saving a third enabled signal: %q, want it to say %q", refused.Error, want)
	}
	app.do("GET", "/v1/signals/third", adminToken, nil, http.StatusNotFound, nil) // nothing saved
	// A new version of an enabled signal takes no new slot.
	app.do("PUT", "/v1/signals/second", adminToken, doc("second")+"name: Second\n", http.StatusOK, nil)
	app.do("PUT", "/v1/signals/third?enabled=false", adminToken, doc("third"), http.StatusOK, nil)
	refused.Error = ""
	app.do("POST", "/v1/signals/third/enable", adminToken, nil, http.StatusConflict, &refused)
	if !strings.Contains(refused.Error, "--max-enabled-signals") {
		t.Errorf("enabling a third signal: %q, want it to name --max-enabled-signals", refused.Error)
	}
	app.do("POST", "/v1/signals/second/disable", adminToken, nil, http.StatusOK, nil)
	app.do("POST", "/v1/signals/third/enable", adminToken, nil, http.StatusOK, nil)
}

// TestEndToEndCostlyWhereIsStoppedAndCounted is issue 11's signal: a
// replace over a 30 KB property, which built 900 MB per event. Live and in
// a preview it stops, does not match, and is counted.
func TestEndToEndCostlyWhereIsStoppedAndCounted(t *testing.T) {
	app := startApp(t)
	app.seed()
	const attack = `
id: big-replace
owner: mkt-jane
when:
  threshold:
    match:
      type: support_email
      where: 'event.properties.body.replace("a", event.properties.body + event.properties.body + event.properties.body) == ""'
    count: 1
    within: 1h
`
	app.putSignal("big-replace", attack)
	body := strings.Repeat("a", 30<<10)
	ev, _ := json.Marshal(map[string]any{
		"id": "evt-big-body", "type": "support_email", "time": time.Now().UTC().Format(time.RFC3339Nano), "source": "test",
		"customer": map[string]any{"id": "c-1", "account_id": "acme"}, "properties": map[string]any{"body": body},
	})
	app.produce(app.writer(), kv([]byte("acme"), ev))

	// Live: the detector counts the stopped evaluation.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + app.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(metrics), "\ndowser_where_stopped_total 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dowser_where_stopped_total did not reach 1 within 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling a metric: nothing to await
	}
	var alerts struct {
		Alerts []struct {
			Alert struct {
				SignalID string `json:"signal_id"`
			}
		}
	}
	app.do("GET", "/v1/alerts?limit=100", adminToken, nil, http.StatusOK, &alerts)
	for _, a := range alerts.Alerts {
		if a.Alert.SignalID == "big-replace" {
			t.Errorf("big-replace fired")
		}
	}

	// A preview of the same signal.
	var preview struct {
		Events, Alerts int64
		WhereStopped   int64 `json:"where_stopped"`
	}
	app.do("POST", "/v1/signals/preview?since=1h", token("mkt-jane"), attack, http.StatusOK, &preview)
	if preview.Events != 1 || preview.Alerts != 0 || preview.WhereStopped != 1 {
		t.Errorf("preview = %+v, want 1 event, no alert, 1 where stopped", preview)
	}
}
