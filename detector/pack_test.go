package detector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dowserhq/dowser/schema"
)

// packFixture is one deploy/signals/tests/*.yaml file: signal files
// (relative to the fixture), events in partition order, and exactly the
// alerts expected, in order. It is the format `dowser signals test` reads.
type packFixture struct {
	Signals []string         `yaml:"signals"`
	Events  []map[string]any `yaml:"events"`
	Expect  []packAlert      `yaml:"expect"`
}

// packAlert is an expected alert; count and message are compared when
// given.
type packAlert struct {
	Signal  string  `yaml:"signal"`
	Subject string  `yaml:"subject"`
	EventID string  `yaml:"event_id"`
	Count   *int    `yaml:"count"`
	Message *string `yaml:"message"`
}

func (a packAlert) String() string { return a.Signal + " " + a.Subject + " at " + a.EventID }

// TestSignalPack runs every fixture of the default signal pack through
// ParseSignal, New and Evaluate (signals at version 1), and checks that
// every signal of the pack has a fixture named after it.
func TestSignalPack(t *testing.T) {
	fixtures, err := filepath.Glob("../deploy/signals/tests/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	signals, err := filepath.Glob("../deploy/signals/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(signals) == 0 {
		t.Fatal("no signals in ../deploy/signals")
	}
	for _, file := range signals {
		s := parseFile(t, file)
		fixture := filepath.Join("../deploy/signals/tests", s.ID+".yaml")
		if !slices.Contains(fixtures, fixture) {
			t.Errorf("%s: signal %s has no fixture %s", file, s.ID, fixture)
		}
	}
	for _, file := range fixtures {
		t.Run(filepath.Base(file), func(t *testing.T) { runFixture(t, file) })
	}
}

func parseFile(t *testing.T, file string) *Signal {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSignal(src)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if want := strings.TrimSuffix(filepath.Base(file), ".yaml"); s.ID != want {
		t.Errorf("%s: signal id %q, want the file's name %q", file, s.ID, want)
	}
	s.Version = 1
	return s
}

func runFixture(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f packFixture
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if len(f.Signals) == 0 || len(f.Events) == 0 {
		t.Fatal("a fixture needs signals and events")
	}
	var signals []*Signal
	for _, s := range f.Signals {
		signals = append(signals, parseFile(t, filepath.Join(filepath.Dir(file), s)))
	}
	e := New(signals)
	var got []schema.Alert
	var newest time.Time
	for i, raw := range f.Events {
		b, err := json.Marshal(raw)
		if err != nil {
			t.Fatalf("events[%d]: %v", i, err)
		}
		ev, err := schema.ParseEvent(b, 0)
		if err != nil {
			t.Fatalf("events[%d]: %v", i, err)
		}
		if ev.Time.After(newest) {
			newest = ev.Time
		}
		got = append(got, e.Evaluate(&ev)...)
	}
	// The end of the input, as backtest.Runner.Finish takes it.
	got = append(got, e.Advance(newest)...)

	var gotKeys, wantKeys []string
	for _, a := range got {
		gotKeys = append(gotKeys, packAlert{Signal: a.SignalID, Subject: a.Subject, EventID: a.EventID}.String())
	}
	for _, w := range f.Expect {
		wantKeys = append(wantKeys, w.String())
	}
	if !slices.Equal(gotKeys, wantKeys) {
		t.Fatalf("got alerts\n\t%s\nwant\n\t%s", strings.Join(gotKeys, "\n\t"), strings.Join(wantKeys, "\n\t"))
	}
	for i, w := range f.Expect {
		a := got[i]
		if a.SignalVersion != 1 {
			t.Errorf("%s: got version %d, want 1", w, a.SignalVersion)
		}
		if w.Count != nil && a.Count != *w.Count {
			t.Errorf("%s: got count %d, want %d", w, a.Count, *w.Count)
		}
		if w.Message != nil && a.Message != *w.Message {
			t.Errorf("%s: got message %q, want %q", w, a.Message, *w.Message)
		}
	}
	if len(got) == 0 {
		t.Error("a fixture should show its signal firing")
	}
	if t.Failed() {
		t.Log(fmt.Sprintf("%d events, %d alerts", len(f.Events), len(got)))
	}
}
