package demo

import (
	"testing"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// TestHistoryShowsSilenceAndChange feeds the back-dated history and then a
// minute of the demo's traffic through the real detector with the pack,
// as the demo produces them: outage-then-silence fires for SilentAccount
// and usage-surge for SurgingAccount, once each, within that minute. A
// start early on a Monday leaves the current week only seconds for the
// surge.
func TestHistoryShowsSilenceAndChange(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(2026, 11, 4, 9, 0, 0, 0, time.UTC),  // a Wednesday
		time.Date(2026, 11, 9, 0, 0, 30, 0, time.UTC), // a Monday, 30 s into the week
	} {
		t.Run(start.Format(time.RFC3339), func(t *testing.T) {
			engine := detector.New(loadDemoPack(t))
			var alerts []schema.Alert
			evaluate := func(ev schema.Event) {
				if err := ev.Validate(); err != nil {
					t.Fatalf("invalid event %+v: %v", ev, err)
				}
				FillLifecycle(&ev)
				alerts = append(alerts, engine.Evaluate(&ev)...)
			}
			history := History(start)
			for i, ev := range history {
				if !ev.Time.Before(start) || (i > 0 && ev.Time.Before(history[i-1].Time)) {
					t.Fatalf("history event %d at %v: want before %v, in time order", i, ev.Time, start)
				}
				evaluate(ev)
			}
			tr := NewTraffic(1, 0)
			for now := start; now.Before(start.Add(time.Minute)); now = now.Add(50 * time.Millisecond) {
				evaluate(tr.Next(now))
			}
			got := map[string]int{}
			for _, a := range alerts {
				switch a.SignalID {
				case "outage-then-silence", "usage-surge", "usage-drop":
					got[a.SignalID+" "+a.Subject]++
				}
			}
			want := map[string]int{"outage-then-silence account:" + SilentAccount: 1, "usage-surge account:" + SurgingAccount: 1}
			if len(got) != len(want) || got["outage-then-silence account:"+SilentAccount] != 1 || got["usage-surge account:"+SurgingAccount] != 1 {
				t.Errorf("silence and change alerts = %v, want %v", got, want)
			}
		})
	}
}
