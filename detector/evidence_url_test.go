package detector

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

func TestSetEvidenceURLCleansKeptAndNewEvidence(t *testing.T) {
	sig, err := ParseSignal([]byte(`
id: campaign
owner: m
scope: account
when: {threshold: {match: {type: page_view, url: "*utm_campaign=spring*"}, count: 2, within: 1h}}
cooldown: 0s
message: "{{.Account}}: {{(index .Evidence 0).URL}}"
`))
	if err != nil {
		t.Fatal(err)
	}
	sig.Version = 1
	cut := func(u string) string { return strings.Split(u, "?")[0] }
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	view := func(e *Engine, id string) []schema.Alert {
		at = at.Add(time.Minute)
		return e.Evaluate(&schema.Event{ID: id, Type: "page_view", Time: at,
			Customer:   schema.Customer{ID: "c-1", AccountID: "acme"},
			Properties: map[string]any{"url": "https://x/pricing?utm_campaign=spring&email=ann@example.com#top"}})
	}

	// Evidence kept before the cleaner was set (a checkpoint written by an
	// older build) is cleaned too.
	old := New([]*Signal{sig})
	view(old, "e1")
	data, err := old.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("email=ann")) {
		t.Fatal("test setup: the uncleaned state should hold the query")
	}
	e := New([]*Signal{sig})
	if err := e.RestoreSnapshot(data); err != nil {
		t.Fatal(err)
	}
	e.SetEvidenceURL(cut)
	alerts := view(e, "e2") // the match still sees the query string
	if len(alerts) != 1 {
		t.Fatalf("alerts = %d, want 1: matching must see the event's own URL", len(alerts))
	}
	a := alerts[0]
	if a.Message != "acme: https://x/pricing" {
		t.Errorf("message = %q, want the cleaned URL", a.Message)
	}
	for _, ev := range a.Evidence {
		if ev.URL != "https://x/pricing" {
			t.Errorf("evidence %s URL = %q, want it cleaned", ev.EventID, ev.URL)
		}
	}
	data, err = e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("email=ann")) {
		t.Error("the state still holds the query string")
	}
}
