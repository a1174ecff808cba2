package detector

import (
	"bytes"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

func TestForgetErasesThePersonEverywhere(t *testing.T) {
	sigs := parseAll(t, snapshotSignals)
	e := New(sigs)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	view := func(id string, c schema.Customer) {
		e.Evaluate(&schema.Event{ID: id, Type: "page_view", Time: at, Customer: c,
			Properties: map[string]any{"url": "https://x/pricing/" + id}})
		at = at.Add(time.Minute)
	}
	// Before logging in, then linked, then as themself; and a colleague.
	view("e1", schema.Customer{AnonymousID: "anon-erase-me"})
	view("e2", schema.Customer{ID: "c-erase-me", AnonymousID: "anon-erase-me", AccountID: "acme"})
	view("e3", schema.Customer{ID: "c-erase-me", AccountID: "acme"})
	view("e4", schema.Customer{ID: "c-other", AccountID: "globex"})
	before := e.Subjects()
	if got := e.LinkedTo("c-erase-me"); len(got) != 1 || got[0] != "anon-erase-me" {
		t.Errorf("LinkedTo = %q, want [anon-erase-me]", got)
	}

	dropped := e.Forget("c-erase-me")
	if dropped == 0 || e.Subjects() != before-dropped {
		t.Fatalf("Forget dropped %d of %d states, now %d", dropped, before, e.Subjects())
	}
	data, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, trace := range []string{"c-erase-me", "anon-erase-me"} {
		if bytes.Contains(data, []byte(trace)) {
			t.Errorf("the state still holds %q after Forget", trace)
		}
	}
	if !bytes.Contains(data, []byte("c-other")) {
		t.Error("Forget took an unrelated person's state too")
	}
	// The anonymous id is no longer linked: a new anonymous view counts as
	// its own customer again.
	if _, ok := e.links.get("anon-erase-me"); ok {
		t.Error("the identity link survived")
	}
	if got := e.LinkedTo("c-erase-me"); len(got) != 0 {
		t.Errorf("LinkedTo after Forget = %q, want none", got)
	}
	if e.Forget("") != 0 {
		t.Error("forgetting nobody dropped state")
	}
}
