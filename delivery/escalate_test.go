package delivery_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/delivery"
	"github.com/dowserhq/dowser/schema"
)

func TestParseFollowUp(t *testing.T) {
	got, err := delivery.ParseFollowUp(" urgent=15m, high=4h ")
	if err != nil || len(got) != 2 || got["urgent"] != 15*time.Minute || got["high"] != 4*time.Hour {
		t.Errorf("ParseFollowUp = %v, %v", got, err)
	}
	if got, err := delivery.ParseFollowUp(""); err != nil || len(got) != 0 {
		t.Errorf("ParseFollowUp(\"\") = %v, %v; want none", got, err)
	}
	for in, want := range map[string]string{
		"urgent":          `"urgent" is not priority=duration`,
		"critical=5m":     `"critical" is not one of low, medium, high, urgent`,
		"urgent=soon":     `"soon" is not a duration of at least 1m`,
		"urgent=10s":      `"10s" is not a duration of at least 1m`,
		"high=1h,high=2h": "priority high is given twice",
	} {
		if _, err := delivery.ParseFollowUp(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFollowUp(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestPlan(t *testing.T) {
	created := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC) // a Friday
	office := dowser.Calendar{TimeZone: "UTC", WorkDays: []string{"mon", "tue", "wed", "thu", "fri"}, WorkStart: "09:00", WorkEnd: "17:00"}
	rules := map[string]time.Duration{"urgent": 15 * time.Minute, "high": 4 * time.Hour}
	monday := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	at := func(tm time.Time) *time.Time { return &tm }
	for _, tc := range []struct {
		name string
		p    dowser.PendingEscalation
		now  time.Time
		want dowser.EscalationPlan
	}{
		{"acked", dowser.PendingEscalation{Priority: "urgent", Acked: true, NextStep: 1}, created, dowser.EscalationPlan{Stop: "acknowledged"}},
		{"no rule", dowser.PendingEscalation{Priority: "low", NextStep: 1}, created, dowser.EscalationPlan{Stop: "no follow-up rule for priority low"}},
		{"first look", dowser.PendingEscalation{Priority: "high", NextStep: 1, CreatedAt: created, Calendar: office}, created,
			dowser.EscalationPlan{NextAt: monday}}, // 1 h on Friday, 3 h on Monday
		{"due", dowser.PendingEscalation{RepID: "ana", Priority: "high", NextStep: 1, CreatedAt: created, NextAt: at(monday), Calendar: office}, monday,
			dowser.EscalationPlan{Step: 1, Reason: "not acknowledged within 4h0m0s of ana's working time (priority high)", NextAt: monday.Add(4 * time.Hour)}},
		{"late first look", dowser.PendingEscalation{RepID: "ana", Priority: "urgent", NextStep: 1, CreatedAt: created}, created.Add(time.Hour),
			dowser.EscalationPlan{Step: 1, Reason: "not acknowledged within 15m0s of ana's working time (priority urgent)", NextAt: created.Add(75 * time.Minute)}},
		{"last step", dowser.PendingEscalation{RepID: "ana", Priority: "urgent", NextStep: 2, NextAt: at(created)}, created,
			dowser.EscalationPlan{Step: 2, Reason: "not acknowledged within 30m0s of ana's working time (priority urgent)"}},
		{"done", dowser.PendingEscalation{Priority: "urgent", NextStep: 3, NextAt: at(created)}, created, dowser.EscalationPlan{Stop: "every step taken"}},
	} {
		if got := delivery.Plan(tc.p, tc.now, rules); got != tc.want {
			t.Errorf("%s: Plan = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// A channel delivery of an escalated alert says so: to whom, when, why.
func TestPayloadStatesTheEscalation(t *testing.T) {
	a := schema.Alert{ID: "al-1", SignalID: "s", Priority: "urgent", Message: "acme: buying now", Time: time.Date(2026, 12, 2, 9, 41, 0, 0, time.UTC),
		Escalations: []schema.Escalation{{Step: 1, Kind: "managers", To: []string{"mgr-max"}, Reason: "not acknowledged within 15m0s", At: time.Date(2026, 12, 2, 9, 56, 0, 0, time.UTC)}}}
	body, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []dowser.ChannelKind{dowser.ChannelSlack, dowser.ChannelTeams} {
		got, err := delivery.Payload(&dowser.ChannelDelivery{AlertID: "al-1", Channel: dowser.Channel{Kind: kind}, Alert: body}, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := "to mgr-max at 2026-12-02 09:56 UTC: not acknowledged within 15m0s"; !strings.Contains(string(got), want) {
			t.Errorf("%s message %s lacks %q", kind, got, want)
		}
	}
}
