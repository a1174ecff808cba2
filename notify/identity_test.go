package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// memPeople knows who consented; withdraw forgets one.
type memPeople struct {
	mu     sync.Mutex
	people map[string]dowser.Person
}

func (m *memPeople) People(_ context.Context, shown dowser.IdentityFields, ids []string) (map[string]dowser.Person, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]dowser.Person{}
	for _, id := range ids {
		if p, ok := shown.Show(m.people[id]); ok {
			out[id] = p
		}
	}
	return out, nil
}

func TestAlertFramesCarryThePersonReadAsTheyAreWritten(t *testing.T) {
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	people := &memPeople{people: map[string]dowser.Person{"c-ann": {ID: "c-ann", Name: "Ann Lee", Title: "CTO", Email: "ann@acme.example"}}}
	hub, srv := newTestHub(t, HubConfig{Identity: dowser.IdentityFields{Name: true, Title: true}, People: people}, h)
	add := func(seq int64, customer string) schema.Delivery {
		d := h.add("ana", seq)
		d.Alert = json.RawMessage(fmt.Sprintf(`{"id":"al-%d","customer_id":%q}`, seq, customer))
		h.mu.Lock()
		h.ds["ana"][len(h.ds["ana"])-1] = d
		h.mu.Unlock()
		return d
	}
	// Replayed on resume.
	add(1, "c-ann")
	add(2, "c-gus")
	c := dial(t, srv, "ana", nil)
	read(t, c) // hello
	if err := c.WriteJSON(map[string]any{"op": "resume", "after": 0}); err != nil {
		t.Fatal(err)
	}
	person := func(f map[string]any) string {
		p, _ := json.Marshal(f["person"])
		return string(p)
	}
	if f := read(t, c); person(f) != `{"id":"c-ann","name":"Ann Lee","title":"CTO"}` {
		t.Errorf("replayed frame of a consenting person: person %s", person(f))
	}
	if f := read(t, c); f["person"] != nil {
		t.Errorf("replayed frame of a person without consent: person %s", person(f))
	}
	// Live, and after the consent is withdrawn.
	hub.Deliver(add(3, "c-ann"))
	if f := read(t, c); person(f) != `{"id":"c-ann","name":"Ann Lee","title":"CTO"}` {
		t.Errorf("live frame: person %s", person(f))
	}
	people.mu.Lock()
	delete(people.people, "c-ann")
	people.mu.Unlock()
	hub.Deliver(add(4, "c-ann"))
	if f := read(t, c); f["person"] != nil {
		t.Errorf("live frame after withdrawal: person %s", person(f))
	}
}
