package formats_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// sample reads a sample message of testdata, changed by edits (each gets
// the decoded object to change in place).
func sample(t testing.TB, file string, edits ...func(map[string]any)) formats.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	// A binary CloudEvent is stored as its headers and value.
	if h, ok := doc["headers"].(map[string]any); ok && strings.HasPrefix(file, "cloudevents-binary") {
		value := doc["value"].(map[string]any)
		for _, e := range edits {
			e(h)
			e(value)
		}
		var msg formats.Message
		for k, v := range h {
			msg.Headers = append(msg.Headers, formats.Header{Key: k, Value: []byte(v.(string))})
		}
		msg.Value, _ = json.Marshal(value)
		return msg
	}
	for _, e := range edits {
		e(doc)
	}
	out, _ := json.Marshal(doc)
	return formats.Message{Value: out}
}

// set sets the member at a dotted path, creating objects on the way; a nil
// value deletes it.
func set(path string, v any) func(map[string]any) {
	return func(doc map[string]any) {
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := doc[p].(map[string]any)
			if !ok {
				return // not this document (a binary event's headers)
			}
			doc = next
		}
		if v == nil {
			delete(doc, parts[len(parts)-1])
			return
		}
		doc[parts[len(parts)-1]] = v
	}
}

// field reads one mapped field of an event, by its formats name.
func field(ev schema.Event, name string) string {
	switch name {
	case formats.FieldType:
		return ev.Type
	case formats.FieldID:
		return ev.ID
	case formats.FieldTime:
		return ev.Time.UTC().Format(time.RFC3339Nano)
	case formats.FieldCustomerID:
		return ev.Customer.ID
	case formats.FieldAnonymousID:
		return ev.Customer.AnonymousID
	case formats.FieldEmail:
		return ev.Customer.Email
	case formats.FieldAccountID:
		return ev.Customer.AccountID
	case formats.FieldLifecycle:
		return ev.Customer.Lifecycle
	case formats.FieldContentID:
		return ev.ContentID
	case formats.FieldSource:
		return ev.Source
	}
	return ev.Prop(name) // url, title, referrer; or any other property
}

type convertCase struct {
	name      string
	format    string
	overrides map[string]string
	msg       formats.Message
	// want lists fields (formats names, or other property names) and their
	// values; a field not listed is not checked.
	want map[string]string
	// wantErr is the whole error text; wantReason and wantField its
	// schema.EventError.
	wantErr, wantReason, wantField string
}

func runConvertCases(t *testing.T, cases []convertCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := formats.NewMapping(c.format, c.overrides)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := m.Convert(c.msg, 0)
			if c.wantErr != "" {
				if err == nil {
					t.Fatalf("Convert = %+v, want error %q", ev, c.wantErr)
				}
				if err.Error() != c.wantErr {
					t.Errorf("error = %q, want %q", err, c.wantErr)
				}
				var ee *schema.EventError
				if !errors.As(err, &ee) {
					t.Fatalf("error %v is no *schema.EventError", err)
				}
				if ee.Reason != c.wantReason || ee.Field != c.wantField {
					t.Errorf("EventError reason, field = %q, %q; want %q, %q", ee.Reason, ee.Field, c.wantReason, c.wantField)
				}
				if ee.Detail != c.wantErr {
					t.Errorf("EventError detail = %q, want the error's text %q", ee.Detail, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if err := ev.Validate(); err != nil {
				t.Errorf("converted event is invalid: %v", err)
			}
			for name, want := range c.want {
				if got := field(ev, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
