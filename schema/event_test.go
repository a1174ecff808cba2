package schema

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseEvent(t *testing.T) {
	valid := `{"id":"evt-1","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c-42","account_id":"acme"},"properties":{"url":"https://x/pricing"}}`
	tests := []struct {
		name       string
		in         string
		max        int
		wantReason string
		wantField  string
	}{
		{name: "valid", in: valid},
		{name: "anonymous only", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00.5+01:00","customer":{"anonymous_id":"ajs-1"}}`},
		{name: "custom lowercase type", in: `{"id":"e","type":"trial_started","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`},
		{name: "not json", in: `hello`, wantReason: ReasonNotJSON},
		{name: "truncated", in: valid[:40], wantReason: ReasonNotJSON},
		{name: "trailing data", in: valid + `{}`, wantReason: ReasonNotJSON},
		{name: "array", in: `[1,2]`, wantReason: ReasonBadField},
		{name: "too large", in: valid, max: 20, wantReason: ReasonTooLarge},
		{name: "missing id", in: `{"type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "id"},
		{name: "missing type", in: `{"id":"e","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "type"},
		{name: "missing time", in: `{"id":"e","type":"page_view","customer":{"id":"c"}}`, wantReason: ReasonMissingField, wantField: "time"},
		{name: "missing customer", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z"}`, wantReason: ReasonMissingField, wantField: "customer.id"},
		{name: "bad time", in: `{"id":"e","type":"page_view","time":"yesterday","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
		{name: "time after 2262", in: `{"id":"e","type":"page_view","time":"2300-01-01T00:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
		{name: "time before 1677", in: `{"id":"e","type":"page_view","time":"0001-01-02T00:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
		{name: "time not a string", in: `{"id":"e","type":"page_view","time":12,"customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "time"},
		{name: "id not a string", in: `{"id":7,"type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "id"},
		{name: "uppercase type", in: `{"id":"e","type":"PageView","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, wantReason: ReasonBadField, wantField: "type"},
		{name: "bad lifecycle", in: `{"id":"e","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c","lifecycle":"lead"}}`, wantReason: ReasonBadField, wantField: "customer.lifecycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEvent([]byte(tt.in), tt.max)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("ParseEvent: %v, want no error", err)
				}
				return
			}
			var ee *EventError
			if !errors.As(err, &ee) {
				t.Fatalf("ParseEvent error = %v, want an *EventError", err)
			}
			if ee.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q (%v)", ee.Reason, tt.wantReason, err)
			}
			if tt.wantField != "" && ee.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", ee.Field, tt.wantField, err)
			}
		})
	}
}

func TestParseEventFields(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"id":"evt-1","type":"page_view","time":"2026-11-23T07:00:00Z","source":"web",
		"customer":{"id":"c-42","anonymous_id":"ajs-9","email":"ana@acme.example","account_id":"acme","lifecycle":"prospect"},
		"content_id":"pricing-page","properties":{"url":"https://example.com/pricing","title":"Pricing","n":3}}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC); !ev.Time.Equal(want) {
		t.Errorf("time = %v, want %v", ev.Time, want)
	}
	if ev.Customer.Key() != "c-42" || ev.Customer.AccountID != "acme" || ev.ContentID != "pricing-page" {
		t.Errorf("decoded %+v", ev)
	}
	if ev.Prop("url") != "https://example.com/pricing" || ev.Prop("n") != "" || ev.Prop("absent") != "" {
		t.Errorf("Prop: url=%q n=%q", ev.Prop("url"), ev.Prop("n"))
	}
}

func TestValidateRejectsTextPostgresCannotStore(t *testing.T) {
	base := Event{ID: "e", Type: "page_view", Time: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), Customer: Customer{ID: "c"}}
	tests := []struct {
		name   string
		change func(*Event)
		field  string
	}{
		{"invalid UTF-8 in email", func(e *Event) { e.Customer.Email = "ana\xff@acme" }, "customer.email"},
		{"NUL in source", func(e *Event) { e.Source = "web\x00" }, "source"},
		{"NUL in content id", func(e *Event) { e.ContentID = "\x00" }, "content_id"},
		{"invalid UTF-8 in a property", func(e *Event) { e.Properties = map[string]any{"title": "\xc3"} }, "properties.title"},
		{"valid", func(e *Event) { e.Properties = map[string]any{"title": "Prix été", "n": 3.0} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := base
			tt.change(&ev)
			err := ev.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want no error", err)
				}
				return
			}
			var ee *EventError
			if !errors.As(err, &ee) || ee.Reason != ReasonBadField || ee.Field != tt.field {
				t.Fatalf("Validate: %v, want bad_field %s", err, tt.field)
			}
		})
	}
}

func TestCheckClock(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	at := func(t time.Time) *Event { return &Event{Time: t} }
	if err := at(now.Add(time.Hour)).CheckClock(now, time.Hour); err != nil {
		t.Errorf("an hour ahead with 1h allowed: %v", err)
	}
	if err := at(now.AddDate(-5, 0, 0)).CheckClock(now, time.Hour); err != nil {
		t.Errorf("five years late: %v (only the future is checked)", err)
	}
	if err := at(maxEventTime).CheckClock(now, 0); err != nil {
		t.Errorf("no limit: %v", err)
	}
	for _, ahead := range []time.Time{now.Add(time.Hour + time.Nanosecond), time.Date(2262, 4, 1, 0, 0, 0, 0, time.UTC), maxEventTime} {
		err := at(ahead).CheckClock(now, time.Hour)
		var ee *EventError
		if !errors.As(err, &ee) || ee.Reason != ReasonBadField || ee.Field != "time" || !strings.Contains(ee.Detail, "ahead of the clock") {
			t.Errorf("%v: %v, want bad_field time, ahead of the clock", ahead, err)
		}
	}
}

func TestAlertIDIsDeterministic(t *testing.T) {
	a := AlertID("pricing", 1, "account:acme", "evt-1")
	if a != AlertID("pricing", 1, "account:acme", "evt-1") {
		t.Fatal("same inputs gave different ids")
	}
	for _, other := range []string{
		AlertID("pricing", 2, "account:acme", "evt-1"),
		AlertID("pricing", 1, "account:acm", "eevt-1"),
		AlertID("pricing", 1, "account:acme", "evt-2"),
	} {
		if other == a {
			t.Errorf("different inputs gave the same id %s", a)
		}
	}
	if !strings.HasPrefix(a, "al-") || len(a) != 27 {
		t.Errorf("id %q, want al- and 24 hex digits", a)
	}
}

// FuzzParseEvent checks that whatever ParseEvent accepts is a valid event,
// and that it and a reused Decoder decode every input as the encoding/json
// implementation they replace does (reference_test.go).
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"id":"evt-1","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`))
	f.Add([]byte(`{"id":"","customer":{"anonymous_id":"x"}}`))
	f.Add([]byte(`not json`))
	for _, c := range decodeCases {
		if len(c.in) <= 4<<10 {
			f.Add([]byte(c.in))
		}
	}
	d := NewDecoder(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkMatchesReference(t, d, data, 4<<10)
		ev, err := ParseEvent(data, 1<<10)
		if err != nil {
			var ee *EventError
			if !errors.As(err, &ee) || ee.Reason == "" {
				t.Fatalf("error %v is not an *EventError with a reason", err)
			}
			return
		}
		// Whatever is accepted satisfies the contract.
		if ev.ID == "" || ev.Type == "" || ev.Time.IsZero() || ev.Customer.Key() == "" {
			t.Fatalf("accepted an invalid event: %+v", ev)
		}
	})
}
