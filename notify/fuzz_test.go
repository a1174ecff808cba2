package notify

import (
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/schema"
)

// FuzzClientFrame feeds arbitrary bytes to the handling of a client frame:
// whatever arrives, the hub must not panic, and everything it answers must
// be a JSON object with an op.
func FuzzClientFrame(f *testing.F) {
	for _, seed := range []string{
		`{"op":"resume","after":3}`, `{"op":"ack","id":"al-1"}`, `{"op":"feedback","id":"al-1","verdict":"won","note":"x"}`,
		`{"op":"resume","after":-1}`, `{"op":`, `[]`, `null`, `{"op":"ack","id":""}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	h := &memHistory{ds: map[string][]schema.Delivery{}}
	hub := NewHub(HubConfig{}, h, h, prometheus.NewRegistry())
	f.Fuzz(func(t *testing.T, data []byte) {
		// A client whose writer counts as running (newClient's state before
		// flush starts), so that answers stay in its replies, and whose
		// worker counts as running too, so that actions stay queued: the
		// test stores them itself.
		c := newClient(hub, "ana", nil)
		c.acting = true
		c.handle(data)
		c.mu.Lock()
		actions := c.actions
		c.mu.Unlock()
		for _, a := range actions {
			c.answer(c.apply(a))
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, b := range c.replies {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil || m["op"] == nil {
				t.Fatalf("answer %q to %q is not a JSON object with an op", b, data)
			}
		}
	})
}
