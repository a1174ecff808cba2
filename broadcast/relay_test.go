package broadcast

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// TestRelayEncodesAsThePublishLoop holds the relay to the bytes the
// publish loop writes for the same alert: every instance reads either.
func TestRelayEncodesAsThePublishLoop(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	a := schema.Alert{ID: "al-1", SignalID: "pricing", Subject: "account:acme", Time: at}
	body, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	deliveries := []schema.Delivery{{UserID: "ana", Seq: 3, AlertID: "al-1"}, {UserID: "jane", Seq: 9, AlertID: "al-1"}}
	for _, ds := range [][]schema.Delivery{deliveries, nil} {
		m := schema.NewAlertMessage("al-1", at, body, ds)
		want, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := outboxValue(dowser.OutboxMessage{ID: 1, AlertID: "al-1", Alert: body, Deliveries: ds})
		if err != nil || string(got) != string(want) {
			t.Errorf("relay encoded %s, %v; the publish loop %s", got, err, want)
		}
	}
	legacy := []byte(`{"alert_id":"al-1"}`)
	if got, err := outboxValue(dowser.OutboxMessage{ID: 2, AlertID: "al-1", Alert: body, Payload: legacy}); err != nil || string(got) != string(legacy) {
		t.Errorf("legacy row sent as %s, %v; want its payload", got, err)
	}
	if _, err := outboxValue(dowser.OutboxMessage{ID: 3, AlertID: "al-1", Alert: []byte(`{"time":1}`)}); err == nil {
		t.Error("an alert document without a readable time was encoded")
	}
}
