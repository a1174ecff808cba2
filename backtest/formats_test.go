package backtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/formats"
)

// With a Mapping, records are read in its format: Segment page calls
// count as the pricing views they are, and one with no person is invalid,
// naming its field.
func TestRunnerReadsRecordsWithTheMapping(t *testing.T) {
	page := func(id string, minute int) string {
		return fmt.Sprintf(`{"type":"page","messageId":%q,"timestamp":"2026-11-23T07:%02d:00Z","userId":"c-1","context":{"groupId":"acme"},"properties":{"url":"https://x.example/pricing"}}`, id, minute)
	}
	input := strings.Join([]string{page("s1", 1), page("s2", 2), `{"type":"page","messageId":"s0","timestamp":"2026-11-23T07:02:30Z"}`, page("s3", 3)}, "\n")
	m, err := formats.NewMapping(formats.Segment, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                    string
		mapping                 *formats.Mapping
		events, invalid, alerts int64
	}{{"segment", m, 3, 1, 1}, {"envelope", nil, 0, 4, 0}} {
		t.Run(c.name, func(t *testing.T) {
			r := NewRunner(Config{Signals: testSignals(t), Mapping: c.mapping})
			if err := r.RunJSONL(context.Background(), strings.NewReader(input)); err != nil {
				t.Fatal(err)
			}
			s := r.Summary()
			if s.Events != c.events || s.Invalid != c.invalid || s.Alerts != c.alerts {
				t.Errorf("%d events, %d invalid, %d alerts; want %d, %d, %d", s.Events, s.Invalid, s.Alerts, c.events, c.invalid, c.alerts)
			}
			if c.mapping != nil && (len(s.InvalidSamples) != 1 || !strings.Contains(s.InvalidSamples[0].String(), "userId or anonymousId")) {
				t.Errorf("invalid samples %v, want line 3's, naming userId or anonymousId", s.InvalidSamples)
			}
		})
	}
}
