package notify

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// frame is a server-to-client message other than an alert.
type frame struct {
	Op      string `json:"op"`
	User    string `json:"user,omitempty"`
	LastSeq *int64 `json:"last_seq,omitempty"`
	ID      string `json:"id,omitempty"`
	Verdict string `json:"verdict,omitempty"`
	// Reason and Value are a verdict's structured reason and a win's
	// value, in the news of a verdict.
	Reason string   `json:"reason,omitempty"`
	Value  *float64 `json:"value,omitempty"`
	Error  string   `json:"error,omitempty"`
}

func encode(f frame) []byte {
	b, _ := json.Marshal(f) // a struct of strings and numbers always encodes
	return b
}

// alertFrame encodes {"op":"alert","seq":N,"alert":...} without decoding the
// stored alert again, adding "acked" and "verdict" when the user has
// already acted on it, and "person" when the alert's person may be shown
// by more than their id.
func alertFrame(d schema.Delivery, person *dowser.Person) []byte {
	b := make([]byte, 0, len(d.Alert)+80)
	b = append(b, `{"op":"alert","seq":`...)
	b = strconv.AppendInt(b, d.Seq, 10)
	if d.Acked {
		b = append(b, `,"acked":true`...)
	}
	if d.Verdict != "" {
		b = append(b, `,"verdict":`...)
		b = strconv.AppendQuote(b, d.Verdict) // one of three plain words
	}
	if person != nil {
		p, _ := json.Marshal(person) // a struct of strings always encodes
		b = append(b, `,"person":`...)
		b = append(b, p...)
	}
	b = append(b, `,"alert":`...)
	b = append(b, d.Alert...)
	return append(b, '}')
}

// clientFrame is a client-to-server message.
type clientFrame struct {
	Op      string `json:"op"`
	After   int64  `json:"after"`
	ID      string `json:"id"`
	Verdict string `json:"verdict"`
	Note    string `json:"note"`
}

// alertPerson reads only the customer id of a stored alert.
type alertPerson struct {
	CustomerID string `json:"customer_id"`
}

// people returns whom the alerts of ds are about, as reps may see them,
// by customer id: read when the frames are written, so that a withdrawn
// consent, do-not-track or erasure shows at the next frame. nil when the
// setting shows nothing or the read fails (the frames then carry ids
// only, which is always allowed).
func (h *Hub) people(ctx context.Context, ds []schema.Delivery) map[string]dowser.Person {
	if h.cfg.People == nil || h.cfg.Identity.None() {
		return nil
	}
	ids := make([]string, 0, len(ds))
	for _, d := range ds {
		var a alertPerson
		if json.Unmarshal(d.Alert, &a) == nil && a.CustomerID != "" {
			ids = append(ids, a.CustomerID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	people, err := h.cfg.People.People(ctx, h.cfg.Identity, ids)
	if err != nil {
		if ctx.Err() == nil {
			h.cfg.Logger.Warn("websocket: reading who people are; sending their ids only", "err", err)
		}
		return nil
	}
	return people
}

// personIn is the person of d's alert among people, nil when there is
// none to show.
func personIn(people map[string]dowser.Person, d schema.Delivery) *dowser.Person {
	if len(people) == 0 {
		return nil
	}
	var a alertPerson
	if json.Unmarshal(d.Alert, &a) != nil {
		return nil
	}
	if p, ok := people[a.CustomerID]; ok {
		return &p
	}
	return nil
}
