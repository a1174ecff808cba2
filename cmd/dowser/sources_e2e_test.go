package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
)

// Several source topics at once: the events topic in Dowser's envelope, a
// Segment topic and a Snowplow topic, each with its own mapping. One
// customer's pricing views are spread over the three; the account's
// alert counts all of them. Without identity resolution the stage only
// re-keys them onto the resolved topic; with it, the Segment view is an
// anonymous visitor's, linked by a login on the events topic.
func TestEndToEndSeveralSourceTopics(t *testing.T) {
	for _, c := range []struct {
		name    string
		resolve bool
	}{{"re-keyed", false}, {"resolved", true}} {
		t.Run(c.name, func(t *testing.T) {
			app := startApp(t, func(cfg *serveConfig) {
				cfg.ResolveIdentities = c.resolve
				cfg.Sources = formats.SourceList{
					"topic=web.segment,format=segment",
					"topic=app.snowplow,format=snowplow,account_id=contexts_com_acme_account_1.0.id",
				}
			})
			app.seed()
			ana := app.connect("rep-ana")
			events, web, mobile := app.writer(), app.topicWriter("web.segment"), app.topicWriter("app.snowplow")
			now := time.Now()

			// A Snowplow message that cannot be mapped: dead-lettered,
			// naming its field and its topic.
			bad := mustJSON(t, sampleMessage(t, "snowplow-page-view.json", map[string]any{"event_id": nil}))
			app.produce(mobile, kv(keyIn0(), bad))

			// Each view is awaited on the resolved topic before the next,
			// so that the account's partition sees them in time order.
			seg := map[string]any{
				"messageId": "seg-1", "timestamp": now.Add(-3 * time.Minute).UTC().Format(time.RFC3339Nano),
				"properties.url": "https://example.com/pricing",
			}
			anon := "ajs-visitor-1"
			if c.resolve {
				seg["userId"], seg["anonymousId"] = nil, anon
			} else {
				seg["userId"], seg["context.groupId"] = "c-1", "acme"
			}
			app.produce(web, kv([]byte(anon), mustJSON(t, sampleMessage(t, "segment-page.json", seg))))
			if c.resolve {
				app.awaitResolved(anon, "seg-1")
				app.produce(events, login("login-1", anon, anon, "c-1", "acme", now.Add(-150*time.Second)))
				app.awaitResolved("acme", "seg-1", "login-1")
			} else {
				app.awaitResolved("acme", "seg-1")
			}
			k, v := pricingView("acme", "c-1", now.Add(-2*time.Minute))
			app.produce(events, kv(k, v))
			var view struct{ ID string }
			_ = json.Unmarshal(v, &view)
			app.awaitResolved("acme", view.ID)
			app.produce(mobile, kv([]byte("c-1"), mustJSON(t, sampleMessage(t, "snowplow-page-view.json", map[string]any{
				"event_id": "sp-1", "user_id": "c-1", "page_url": "https://example.com/pricing",
				"derived_tstamp":              now.Add(-time.Minute).UTC().Format(time.RFC3339Nano),
				"contexts_com_acme_account_1": []any{map[string]any{"id": "acme"}},
			}))))

			_, alert := ana.nextAlert(20 * time.Second)
			want := []string{view.ID, "seg-1", "sp-1"}
			slices.Sort(want)
			if alert["signal_id"] != "pricing-research" || alert["account_id"] != "acme" || alert["customer_id"] != "c-1" ||
				alert["event_id"] != "sp-1" || alert["count"] != 3.0 || !slices.Equal(evidenceIDs(alert), want) {
				t.Errorf("alert = %v; want pricing-research of acme by c-1, fired by sp-1, counting %v from the three topics", alert, want)
			}
			// A preview reads what the detector reads: the three topics'
			// views, re-keyed, fire a three-views signal once.
			var preview struct {
				Alerts  int64
				Samples []struct{ Subject string }
			}
			app.do("POST", "/v1/signals/preview?since=1h", token("mkt-jane"), `
id: three-views
owner: mkt-jane
scope: account
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 1h
cooldown: 1d
`, http.StatusOK, &preview)
			if preview.Alerts != 1 || len(preview.Samples) != 1 || preview.Samples[0].Subject != "account:acme" {
				t.Errorf("preview = %+v, want one alert, for account:acme", preview)
			}
			got := app.deadLetterFrom(bad)
			if got[kafka.HeaderReason] != "missing_field" || got[kafka.HeaderError] != "snowplow: event_id is required" || got[kafka.HeaderTopic] != "app.snowplow" {
				t.Errorf("dead letter headers %v; want missing_field, naming event_id and the topic app.snowplow", got)
			}
		})
	}
}

// topicWriter writes to topic, keyed as the events writer.
func (a *testApp) topicWriter(topic string) *kafkago.Writer {
	w := a.writer()
	w.Topic = topic
	return w
}

// deadLetterFrom waits for the dead letter of value (keyed to partition 0
// of 3) and returns its headers.
func (a *testApp) deadLetterFrom(value []byte) map[string]string {
	a.t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: a.Brokers(), Topic: kafka.DLQTopic("dowser.events"), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			a.t.Fatalf("reading the dead-letter topic: %v", err)
		}
		if !bytes.Equal(m.Value, value) {
			continue
		}
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		return h
	}
}

// On an events topic in a tracker's format, the preview and `dowser
// signals backtest --from-kafka --source` read the topic's messages as
// the service does, not as invalid envelopes.
func TestEndToEndPreviewAndBacktestReadTheTopicsFormat(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.Sources = formats.SourceList{"format=segment"} })
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	for i, id := range []string{"seg-1", "seg-2", "seg-3"} {
		app.produce(w, kv([]byte("acme"), mustJSON(t, sampleMessage(t, "segment-page.json", map[string]any{
			"messageId": id, "userId": "c-1", "context.groupId": "acme", "properties.url": "https://example.com/pricing",
			"timestamp": now.Add(time.Duration(i-3) * time.Minute).UTC().Format(time.RFC3339Nano),
		}))))
	}
	if _, a := ana.nextAlert(20 * time.Second); a["event_id"] != "seg-3" {
		t.Fatalf("live alert = %v, want the one seg-3 fired", a)
	}
	const threeViews = `
id: three-views
owner: mkt-jane
scope: account
priority: high
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 1h
cooldown: 1d
`
	var preview struct {
		Events, Invalid, Alerts int64
	}
	app.do("POST", "/v1/signals/preview?since=1h", token("mkt-jane"), threeViews, http.StatusOK, &preview)
	if preview.Events != 3 || preview.Invalid != 0 || preview.Alerts != 1 {
		t.Errorf("preview = %+v, want 3 events, none invalid, one alert", preview)
	}

	signals := writeSignalsFile(t, t.TempDir(), "three-views.yaml", threeViews)
	brokers := strings.Join(app.Brokers(), ",")
	code, stdout, stderr := runSignalsCmd(t, "signals", "backtest", "--signals", signals, "--from-kafka", "--kafka-brokers", brokers,
		"--source", "format=segment", "--format", "jsonl")
	if code != 0 || strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, `"event_id":"seg-3"`) {
		t.Errorf("backtest --source format=segment: exit %d, alerts:\n%s\nstderr: %s; want one, fired by seg-3", code, stdout, stderr)
	}
	if code, _, stderr := runSignalsCmd(t, "signals", "backtest", "--signals", signals, "--from-kafka", "--kafka-brokers", brokers,
		"--source", "topic=other,format=segment"); code == 0 || !strings.Contains(stderr, `--source topic "other": a backtest reads one topic`) {
		t.Errorf("backtest with another topic's source: exit %d, stderr %q; want it refused", code, stderr)
	}
}
