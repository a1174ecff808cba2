package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
)

// The format tests run the service with its events topic in a tracker's
// format, produce that format's sample messages (formats/testdata, from
// the formats' specifications) changed to be pricing views of Acme, and
// expect the alert on Acme's rep's socket; one message that cannot be
// mapped goes to the dead-letter topic naming its field.

// sampleMessage reads a sample message of formats/testdata and sets the
// members at the dotted paths of set (a nil value deletes).
func sampleMessage(t *testing.T, file string, set map[string]any) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "formats", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		parts := strings.Split(path, ".")
		m := doc
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		if v == nil {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	return doc
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceWithHeaders writes one message with headers to the events topic.
func (a *testApp) produceWithHeaders(w *kafkago.Writer, key, value []byte, headers ...string) {
	a.t.Helper()
	m := kafkago.Message{Key: key, Value: value}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, kafkago.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, m); err != nil {
		a.t.Fatalf("producing: %v", err)
	}
}

// deadLetter waits for the dead letter of value and returns its reason and
// error headers.
func (a *testApp) deadLetter(value []byte) (reason, errText string) {
	a.t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: a.Brokers(), Topic: kafka.DLQTopic("dowser.events"), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The bad messages are keyed to land in partition 0.
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
		return h[kafka.HeaderReason], h[kafka.HeaderError]
	}
}

// keyIn returns a message key that lands in partition 0 of the test's
// three, where deadLetter reads.
func keyIn0() []byte {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("bad-%d", i); partitionOf(k, 3) == 0 {
			return []byte(k)
		}
	}
}

// checkPricingAlert reads ana's next alert and checks it is Acme's
// pricing-research alert fired by the third view, event id trigger.
func checkPricingAlert(t *testing.T, ana *wsClient, signal, customer, trigger string) {
	t.Helper()
	_, alert := ana.nextAlert(2 * time.Second)
	for field, want := range map[string]any{
		"signal_id": signal, "account_id": "acme", "customer_id": customer, "event_id": trigger, "count": 3.0,
	} {
		if alert[field] != want {
			t.Errorf("alert[%q] = %v, want %v", field, alert[field], want)
		}
	}
}

func TestEndToEndSegmentTopic(t *testing.T) {
	// Segment's defaults, and one override: the content id is a property.
	app := startApp(t, func(c *serveConfig) {
		c.Sources = formats.SourceList{"format=segment,content_id=properties.content_id"}
	})
	app.seed()
	app.do("PUT", "/v1/users/tracker", adminToken, map[string]string{"name": "Web tracker", "role": "source", "token": token("tracker")}, http.StatusOK, nil)
	ana := app.connect("rep-ana")
	jane := app.connect("mkt-jane")
	w := app.writer()
	now := time.Now()
	page := func(id, user string, ago time.Duration) []byte {
		return mustJSON(t, sampleMessage(t, "segment-page.json", map[string]any{
			"messageId": id, "userId": user, "timestamp": now.Add(-ago).UTC().Format(time.RFC3339Nano),
			"context.groupId":       "acme",
			"properties.url":        "https://example.com/pricing",
			"properties.content_id": "pricing-page",
		}))
	}

	// Not mappable: no person. Dead-lettered, naming the fields.
	bad := mustJSON(t, sampleMessage(t, "segment-page.json", map[string]any{"userId": nil, "anonymousId": nil}))
	app.produce(w, kv(keyIn0(), bad))

	// Three pricing views: one straight to Kafka in the topic's format, one
	// through dowser produce --format, one through POST /v1/events.
	app.produce(w, kv([]byte("acme"), page("seg-1", "c-1", 3*time.Minute)))
	var stderr bytes.Buffer
	if err := runProduce(context.Background(), []string{"--kafka-brokers", strings.Join(app.Brokers(), ","), "--format", "segment"},
		bytes.NewReader(page("seg-2", "c-2", 2*time.Minute)), &stderr, func(string) string { return "" }); err != nil {
		t.Fatalf("dowser produce --format segment: %v (%s)", err, stderr.String())
	}
	var accepted struct{ Accepted int }
	app.do("POST", "/v1/events?format=segment", token("tracker"), map[string]any{"batch": []json.RawMessage{page("seg-3", "c-1", time.Minute)}}, http.StatusAccepted, &accepted)

	checkPricingAlert(t, ana, "pricing-research", "c-1", "seg-3")
	// The overridden content id routed it to the content's owner as well.
	if _, a := jane.nextAlert(2 * time.Second); a["event_id"] != "seg-3" {
		t.Errorf("content owner's alert = %v, want the one seg-3 fired", a)
	}
	if reason, errText := app.deadLetter(bad); reason != "missing_field" || errText != "segment: userId or anonymousId is required" {
		t.Errorf("dead letter reason %q, error %q; want missing_field naming userId or anonymousId", reason, errText)
	}
}

func TestEndToEndSnowplowTopic(t *testing.T) {
	// The account comes from a custom context: an override.
	app := startApp(t, func(c *serveConfig) {
		c.Sources = formats.SourceList{"format=snowplow,account_id=contexts_com_acme_account_1.0.id"}
	})
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	for i, id := range []string{"sp-1", "sp-2", "sp-3"} {
		v := mustJSON(t, sampleMessage(t, "snowplow-page-view.json", map[string]any{
			"event_id": id, "user_id": "c-7", "page_url": "https://example.com/pricing",
			"derived_tstamp":              now.Add(time.Duration(i-3) * time.Minute).UTC().Format(time.RFC3339Nano),
			"contexts_com_acme_account_1": []any{map[string]any{"id": "acme"}},
		}))
		app.produce(w, kv([]byte("acme"), v))
	}
	bad := mustJSON(t, sampleMessage(t, "snowplow-page-view.json", map[string]any{"event_id": nil}))
	app.produce(w, kv(keyIn0(), bad))

	checkPricingAlert(t, ana, "pricing-research", "c-7", "sp-3")
	if reason, errText := app.deadLetter(bad); reason != "missing_field" || errText != "snowplow: event_id is required" {
		t.Errorf("dead letter reason %q, error %q; want missing_field naming event_id", reason, errText)
	}
}

func TestEndToEndCloudEventsTopic(t *testing.T) {
	// The account is the data's company: an override.
	app := startApp(t, func(c *serveConfig) {
		c.Sources = formats.SourceList{"format=cloudevents,account_id=data.company"}
	})
	app.seed()
	app.putSignal("ce-pricing", `
id: ce-pricing
name: Pricing research (CloudEvents)
owner: mkt-omar
audience: prospect
scope: account
when:
  threshold:
    match: {type: com.example.page.viewed, url: "*/pricing*"}
    count: 3
    within: 1h
message: "{{.Account}}: pricing viewed {{.Count}} times"
`)
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	at := func(ago time.Duration) string { return now.Add(-ago).UTC().Format(time.RFC3339Nano) }
	data := map[string]any{"user_id": "c-5", "company": "acme", "url": "https://example.com/pricing"}
	structured := func(id string, ago time.Duration) []byte {
		return mustJSON(t, sampleMessage(t, "cloudevents-structured.json", map[string]any{
			"id": id, "type": "com.example.page.viewed", "source": "/web", "time": at(ago), "data": data,
		}))
	}
	// Two in structured mode, the third in binary mode: attributes in
	// ce_* headers, the data as the value.
	app.produceWithHeaders(w, []byte("acme"), structured("ce-1", 3*time.Minute), "content-type", "application/cloudevents+json; charset=UTF-8")
	app.produce(w, kv([]byte("acme"), structured("ce-2", 2*time.Minute)))
	app.produceWithHeaders(w, []byte("acme"), mustJSON(t, data),
		"ce_specversion", "1.0", "ce_id", "ce-3", "ce_type", "com.example.page.viewed", "ce_source", "/web",
		"ce_time", at(time.Minute), "content-type", "application/json")
	// Binary, without an id.
	badData := []byte(`{"user_id":"c-5","company":"acme","n":1}`)
	app.produceWithHeaders(w, keyIn0(), badData,
		"ce_specversion", "1.0", "ce_type", "com.example.page.viewed", "ce_source", "/web", "ce_time", at(0), "content-type", "application/json")

	checkPricingAlert(t, ana, "ce-pricing", "c-5", "ce-3")
	if reason, errText := app.deadLetter(badData); reason != "missing_field" || errText != "cloudevents: ce_id header is required" {
		t.Errorf("dead letter reason %q, error %q; want missing_field naming the ce_id header", reason, errText)
	}
}
