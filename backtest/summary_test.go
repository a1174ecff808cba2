package backtest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// summaryInput fires each signal of testSignals at least once, on two days.
const summaryInput = `{"id":"p1","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c1","account_id":"acme"},"properties":{"url":"https://x.example/pricing"}}
{"id":"p2","type":"page_view","time":"2026-11-23T08:00:00Z","customer":{"id":"c1","account_id":"acme"},"properties":{"url":"https://x.example/pricing"}}
{"id":"p3","type":"page_view","time":"2026-11-23T09:00:00Z","customer":{"id":"c2","account_id":"acme"},"properties":{"url":"https://x.example/pricing"}}
{"id":"w1","type":"webinar_signup","time":"2026-11-24T07:00:00Z","customer":{"id":"c9"}}
{"id":"w2","type":"webinar_signup","time":"2026-11-24T07:30:00Z","customer":{"id":"c3","account_id":"globex"}}
{"id":"s1","type":"support_email","time":"2026-11-24T08:00:00Z","customer":{"id":"c4","account_id":"initech"}}
{"id":"s2","type":"support_email","time":"2026-11-24T09:00:00Z","customer":{"id":"c4","account_id":"initech"}}
{"id":"bad","type":"page_view"}
`

func runSummary(t *testing.T, accounts map[string]Account) (*Summary, []AlertRecord) {
	t.Helper()
	var records []AlertRecord
	r := NewRunner(Config{Signals: testSignals(t), Accounts: accounts, OnAlert: func(a *schema.Alert, rep string) error {
		records = append(records, NewAlertRecord(a, rep))
		return nil
	}})
	if err := r.RunJSONL(context.Background(), strings.NewReader(summaryInput)); err != nil {
		t.Fatal(err)
	}
	return r.Summary(), records
}

func TestSummaryText(t *testing.T) {
	// initech is a customer by its account only: without accounts, its
	// support emails count as a prospect's and support-escalation is silent.
	s, _ := runSummary(t, nil)
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `events:   8 read, 7 valid, 1 invalid
time:     2026-11-23T07:00:00Z to 2026-11-24T09:00:00Z
alerts:   3

per signal:
  webinar-signup              2
  pricing-research            1
  integration-docs            0
  support-escalation          0

per day (event time, UTC):
  2026-11-23          1
  2026-11-24          2

per priority:
  urgent          0
  high            1
  medium          2
  low             0

per rep: (no owners given; pass --owners accounts.csv)

invalid events: 1 (missing_field 1); the first 1:
  line 8: missing_field: time: is required
`
	if got := b.String(); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}

	s, _ = runSummary(t, map[string]Account{
		"acme":    {Owner: "rep-ana"},
		"initech": {Owner: "rep-ben", Lifecycle: schema.LifecycleCustomer},
	})
	b.Reset()
	s.WriteText(&b)
	for _, w := range []string{
		"alerts:   4\n",
		"  support-escalation          1\n",
		"per rep:\n  (no owner)          2\n  rep-ana             1\n  rep-ben             1\n",
	} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("summary with accounts:\n%s\nwant it to contain %q", b.String(), w)
		}
	}
}

func TestAlertRecordJSON(t *testing.T) {
	_, records := runSummary(t, map[string]Account{"acme": {Owner: "rep-ana"}})
	if len(records) != 3 {
		t.Fatalf("%d alerts, want 3", len(records))
	}
	b, err := json.Marshal(records[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"signal": "pricing-research", "signal_version": 1.0, "subject": "account:acme", "event_id": "p3",
		"time": "2026-11-23T09:00:00Z", "priority": "high", "message": "acme: pricing viewed 3 times in 7 days",
		"count": 3.0, "customer_id": "c2", "account_id": "acme", "rep": "rep-ana",
		"id":       schema.AlertID("pricing-research", 1, "account:acme", "p3"),
		"evidence": []any{"p1", "p2", "p3"},
	}
	for k, v := range want {
		if gb, _ := json.Marshal(got[k]); string(gb) != mustJSON(v) {
			t.Errorf("%s = %s, want %s (record %s)", k, gb, mustJSON(v), b)
		}
	}
	if len(got) != len(want) {
		t.Errorf("record has %d keys, want %d: %s", len(got), len(want), b)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestLoadAccounts(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "a.csv", "account_id,owner,lifecycle\n# comment\nacme,rep-ana,prospect\nglobex, rep-ben ,customer\ninitech,rep-cho\nhooli,,\n")
	got, err := LoadAccounts(good)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Account{
		"acme":    {"rep-ana", "prospect"},
		"globex":  {"rep-ben", "customer"},
		"initech": {"rep-cho", ""},
		"hooli":   {"", ""},
	}
	if len(got) != len(want) {
		t.Errorf("LoadAccounts = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("account %s = %+v, want %+v", k, got[k], v)
		}
	}
	for _, tt := range []struct{ content, want string }{
		{"acme\n", ":1: want account_id,owner[,lifecycle], got 1 fields"},
		{"acme,a\nglobex,b,lead\n", `:2: lifecycle "lead" is not customer or prospect`},
		{",a\n", ":1: empty account_id"},
	} {
		_, err := LoadAccounts(writeFile(t, dir, "bad.csv", tt.content))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadAccounts(%q) = %v, want an error with %q", tt.content, err, tt.want)
		}
	}
}

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		done, total, events int64
		inBytes             bool
		want                string
	}{
		{50e6, 200e6, 250_000, true, " 25% [######..................] 50.0/200.0 MB  250,000 events  125,000 events/s  ETA 6s"},
		{3000, 0, 3000, true, "0.0 MB  3,000 events  1,500 events/s"},
		{1500, 3000, 1500, false, " 50% [############............] 1,500/3,000 events  750 events/s  ETA 2s"},
		{3000, 3000, 3000, false, "100% [########################] 3,000/3,000 events  1,500 events/s"},
	}
	for _, tt := range tests {
		if got := renderProgress(tt.done, tt.total, tt.events, 2*time.Second, tt.inBytes); got != tt.want {
			t.Errorf("renderProgress(%d, %d, %d) =\n%q, want\n%q", tt.done, tt.total, tt.events, got, tt.want)
		}
	}
}

func TestGroup(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
}
