package notify

import (
	"encoding/json"
	"strconv"

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
// already acted on it.
func alertFrame(d schema.Delivery) []byte {
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
