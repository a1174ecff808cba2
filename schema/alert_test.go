package schema

import (
	"encoding/json"
	"testing"
	"time"
)

// TestAlertMessageEncoding pins the bytes of an alerts-topic message:
// instances of different versions read each other's messages during an
// upgrade, and before the message was encoded in Go, PostgreSQL built
// exactly these bytes.
func TestAlertMessageEncoding(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8000, time.UTC)
	body := json.RawMessage(`{"id":"al-1","signal_id":"s"}`)
	for _, c := range []struct {
		name       string
		deliveries []Delivery
		want       string
	}{
		{"two recipients", []Delivery{{UserID: "ana", Seq: 1}, {UserID: "jane", Seq: 12}},
			`{"alert_id":"al-1","event_time":"2026-03-04T05:06:07.000008Z","alert":{"id":"al-1","signal_id":"s"},"deliveries":[{"user":"ana","seq":1},{"user":"jane","seq":12}]}`},
		{"nobody", nil,
			`{"alert_id":"al-1","event_time":"2026-03-04T05:06:07.000008Z","alert":{"id":"al-1","signal_id":"s"},"deliveries":null}`},
	} {
		m := NewAlertMessage("al-1", at, body, c.deliveries)
		got, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
		var back AlertMessage
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if ds := back.Expand(); len(ds) != len(c.deliveries) || len(ds) > 0 && (ds[0].AlertID != "al-1" || ds[0].Seq != 1 || !ds[0].EventTime.Equal(at)) {
			t.Errorf("%s: decoded back to %+v", c.name, ds)
		}
	}
}
