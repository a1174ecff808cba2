package detector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/dowserhq/dowser/schema"
)

// dataCase is one testdata/*.yaml file: signal documents and events in, the
// alerts expected out, in order.
type dataCase struct {
	Signals []yaml.Node      `yaml:"signals"`
	Events  []map[string]any `yaml:"events"`
	Alerts  []dataAlert      `yaml:"alerts"`
}

// dataAlert is an expected alert; fields left out are not compared.
type dataAlert struct {
	SignalID string   `yaml:"signal_id"`
	EventID  string   `yaml:"event_id"`
	Subject  string   `yaml:"subject"`
	Count    *int     `yaml:"count"`
	Message  *string  `yaml:"message"`
	Evidence []string `yaml:"evidence"` // event ids, oldest first
}

func TestDataFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d testdata files, want at least 3", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			tc := loadDataCase(t, file)
			var signals []*Signal
			for i := range tc.Signals {
				doc, err := yaml.Marshal(&tc.Signals[i])
				if err != nil {
					t.Fatalf("encoding signal %d: %v", i, err)
				}
				s, err := ParseSignal(doc)
				if err != nil {
					t.Fatalf("signal %d: %v", i, err)
				}
				signals = append(signals, s)
			}
			e := New(signals)
			var got []schema.Alert
			for i, raw := range tc.Events {
				b, err := json.Marshal(raw)
				if err != nil {
					t.Fatalf("encoding event %d: %v", i, err)
				}
				ev, err := schema.ParseEvent(b, 0)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				got = append(got, e.Evaluate(&ev)...)
			}
			if len(got) != len(tc.Alerts) {
				t.Errorf("got %d alerts %v, want %d", len(got), alertKeys(got), len(tc.Alerts))
			}
			for i := range min(len(got), len(tc.Alerts)) {
				compareDataAlert(t, i, got[i], tc.Alerts[i])
			}
		})
	}
}

func loadDataCase(t *testing.T, file string) dataCase {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var tc dataCase
	if err := dec.Decode(&tc); err != nil {
		t.Fatalf("decoding %s: %v", file, err)
	}
	return tc
}

func compareDataAlert(t *testing.T, i int, got schema.Alert, want dataAlert) {
	t.Helper()
	if got.SignalID != want.SignalID || got.EventID != want.EventID || got.Subject != want.Subject {
		t.Errorf("alert %d: got %s/%s/%s, want %s/%s/%s", i,
			got.SignalID, got.EventID, got.Subject, want.SignalID, want.EventID, want.Subject)
	}
	if wantID := schema.AlertID(got.SignalID, got.SignalVersion, got.Subject, got.EventID); got.ID != wantID {
		t.Errorf("alert %d: got id %s, want %s", i, got.ID, wantID)
	}
	if want.Count != nil && got.Count != *want.Count {
		t.Errorf("alert %d: got count %d, want %d", i, got.Count, *want.Count)
	}
	if want.Message != nil && got.Message != *want.Message {
		t.Errorf("alert %d: got message %q, want %q", i, got.Message, *want.Message)
	}
	if want.Evidence != nil {
		var ids []string
		for _, ev := range got.Evidence {
			ids = append(ids, ev.EventID)
		}
		if !slices.Equal(ids, want.Evidence) {
			t.Errorf("alert %d: got evidence %v, want %v", i, ids, want.Evidence)
		}
	}
}

func alertKeys(alerts []schema.Alert) []string {
	var keys []string
	for _, a := range alerts {
		keys = append(keys, a.SignalID+"/"+a.EventID+"/"+a.Subject)
	}
	return keys
}
