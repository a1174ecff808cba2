package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// producerRecorder keeps what POST /v1/events produced.
type producerRecorder struct {
	mu     sync.Mutex
	format []string
	events []schema.Event
	raw    []string
}

func (p *producerRecorder) ProduceEvents(_ context.Context, format string, events []schema.Event, raw [][]byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range events {
		p.format = append(p.format, format)
		p.events = append(p.events, events[i])
		p.raw = append(p.raw, string(raw[i]))
	}
	return nil
}

const (
	segmentTrack = `{"type":"track","event":"Demo Requested","messageId":"seg-1","timestamp":"2026-11-23T07:00:00Z","userId":"u-1","properties":{"company":"acme"}}`
	ceEvent      = `{"specversion":"1.0","id":"ce-1","source":"/web","type":"com.example.demo.requested","time":"2026-11-23T07:00:00Z","data":{"user_id":"u-2","account_id":"globex"}}`
)

// POST /v1/events takes the formats the events topic does: by ?format=,
// or CloudEvents by their Content-Type. Events are validated with the
// source's mapping for their format and produced as posted, with their
// format; a bad one names its own field.
func TestPostEventsInFormats(t *testing.T) {
	src, err := formats.NewSource(formats.SourceConfig{Format: formats.Segment, Fields: map[string]string{"account_id": "properties.company"}})
	if err != nil {
		t.Fatal(err)
	}
	prod := &producerRecorder{}
	srv, _ := newServer(t, api.Config{Events: prod, Source: src})
	ceType := http.Header{"Content-Type": {"application/cloudevents+json"}}
	ceBatch := http.Header{"Content-Type": {"application/cloudevents-batch+json"}}
	for _, c := range []struct {
		name, path, body string
		header           http.Header
		want             int
		contains         []string
		// wantFormat and wantAccount are those of the produced event.
		wantFormat, wantAccount string
	}{
		{name: "segment with the source's mapping", path: "/v1/events?format=segment", body: "[" + segmentTrack + "]", want: 202, wantFormat: "segment", wantAccount: "acme"},
		{name: "segment's batch body", path: "/v1/events?format=segment", body: `{"batch":[` + segmentTrack + `]}`, want: 202, wantFormat: "segment", wantAccount: "acme"},
		{name: "one structured CloudEvent", path: "/v1/events", body: ceEvent, header: ceType, want: 202, wantFormat: "cloudevents", wantAccount: "globex"},
		{name: "a CloudEvents batch", path: "/v1/events", body: "[" + ceEvent + "]", header: ceBatch, want: 202, wantFormat: "cloudevents", wantAccount: "globex"},
		{name: "CloudEvents as JSON by format", path: "/v1/events?format=cloudevents", body: "[" + ceEvent + "]", want: 202, wantFormat: "cloudevents", wantAccount: "globex"},
		{name: "the envelope by default", path: "/v1/events", body: `[{"id":"e1","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c","account_id":"initech"}}]`, want: 202, wantFormat: "dowser", wantAccount: "initech"},
		{name: "a segment message without a person", path: "/v1/events?format=segment", body: `[` + strings.Replace(segmentTrack, `"userId":"u-1",`, "", 1) + `]`,
			want: 422, contains: []string{`"field":"userId"`, `"reason":"missing_field"`, `segment: userId or anonymousId is required`}},
		{name: "a segment message as an envelope", path: "/v1/events", body: "[" + segmentTrack + "]", want: 422, contains: []string{`"field":"id"`}},
		{name: "a CloudEvent without an id", path: "/v1/events", body: strings.Replace(ceEvent, `"id":"ce-1",`, "", 1), header: ceType,
			want: 422, contains: []string{`cloudevents: id is required`, `"field":"id"`}},
		{name: "an unknown format", path: "/v1/events?format=mixpanel", body: "[" + segmentTrack + "]", want: 400, contains: []string{`format \"mixpanel\" is not dowser, segment, snowplow, cloudevents`}},
		{name: "a format against the Content-Type", path: "/v1/events?format=segment", body: ceEvent, header: ceType, want: 400, contains: []string{"contradicts Content-Type"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			prod.mu.Lock()
			before := len(prod.events)
			prod.mu.Unlock()
			status, body := call(t, srv, "POST", c.path, tok("tracker"), c.body, c.header)
			if status != c.want {
				t.Fatalf("status %d, want %d: %s", status, c.want, body)
			}
			for _, s := range c.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body %s does not contain %s", body, s)
				}
			}
			prod.mu.Lock()
			defer prod.mu.Unlock()
			if c.want != 202 {
				if len(prod.events) != before {
					t.Errorf("%d events produced from a refused batch", len(prod.events)-before)
				}
				return
			}
			if len(prod.events) != before+1 {
				t.Fatalf("produced %d events, want 1", len(prod.events)-before)
			}
			ev, format, raw := prod.events[before], prod.format[before], prod.raw[before]
			if format != c.wantFormat || ev.Customer.AccountID != c.wantAccount {
				t.Errorf("produced format %q account %q, want %q and %q", format, ev.Customer.AccountID, c.wantFormat, c.wantAccount)
			}
			if !json.Valid([]byte(raw)) || strings.Contains(raw, `"batch"`) {
				t.Errorf("produced value %s, want the posted event as it was", raw)
			}
		})
	}
}
