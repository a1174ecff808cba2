package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// TestCRMOutboxRowsPerAlertAndPerVerdict checks that an enabled crm channel
// gets one row per stored alert, whoever received it, and none for a replay;
// one row per verdict given (on each verdict path: the API's, the stream's,
// a one-click link's) when it has a verdict
// template, carrying the verdict; and that a disabled crm channel or one
// without a verdict template gets no rows of those kinds.
func TestCRMOutboxRowsPerAlertAndPerVerdict(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	for _, u := range []dowser.User{{ID: "admin", Name: "Admin", Role: dowser.RoleAdmin}, {ID: "ana", Name: "Ana", Role: dowser.RoleRep}} {
		if err := s.People.PutUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	req := dowser.CRMRequest{Method: "POST", Path: "/tasks", Body: `{}`}
	add := func(enabled bool, verdict *dowser.CRMRequest) dowser.Channel {
		c, err := s.Channels.AddChannel(ctx, dowser.Channel{UserID: "admin", Kind: dowser.ChannelCRM, Target: "https://crm.example.com",
			Enabled: enabled, CRM: &dowser.CRMTemplate{Alert: req, Verdict: verdict}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	both, alertsOnly := add(true, &req), add(true, nil)
	add(false, &req)
	for range 2 {
		if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Alerts.GiveVerdict(ctx, "ana", "al-1", dowser.Verdict{Verdict: dowser.VerdictWon, Note: "Signed", Value: new(5000.0)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Feedback(ctx, "ana", "al-1", dowser.VerdictUseful, "", ""); err != nil {
		t.Fatal(err)
	}
	link := dowser.Link{Action: dowser.LinkNotUseful, AlertID: "al-1", UserID: "ana", Expires: time.Now().Add(time.Hour), Nonce: "n-crm"}
	if err := s.Alerts.UseLink(ctx, link, time.Now()); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Channels.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[int64]int{}
	var verdicts []dowser.CRMVerdict
	for _, d := range claimed {
		if d.Channel.CRM == nil || d.Channel.CRM.Alert.Path != "/tasks" {
			t.Errorf("delivery %s's channel came without its templates: %+v", d.ID, d.Channel)
		}
		if d.VerdictAt == nil {
			alerts[d.ChannelID]++
			continue
		}
		if d.ChannelID != both.ID || d.VerdictUser != "ana" || d.UserID != "admin" {
			t.Errorf("verdict delivery %+v, want one of channel %d for ana's verdict, owned by admin", d, both.ID)
		}
		var v dowser.CRMVerdict
		if err := json.Unmarshal(d.Verdict, &v); err != nil {
			t.Fatalf("verdict %s: %v", d.Verdict, err)
		}
		verdicts = append(verdicts, v)
	}
	if len(alerts) != 2 || alerts[both.ID] != 1 || alerts[alertsOnly.ID] != 1 {
		t.Errorf("alert deliveries per channel = %v, want one each for %d and %d", alerts, both.ID, alertsOnly.ID)
	}
	won, useful, notUseful := 0, 0, 0
	for _, v := range verdicts {
		switch {
		case v.Verdict == dowser.VerdictNotUseful:
			notUseful++
		case v.Verdict == dowser.VerdictWon && v.Note == "Signed" && v.Value != nil && *v.Value == 5000 && v.UserID == "ana" && !v.At.IsZero():
			won++
		case v.Verdict == dowser.VerdictUseful && v.Value == nil:
			useful++
		}
	}
	if won != 1 || useful != 1 || notUseful != 1 {
		t.Errorf("verdict deliveries %+v, want the won one (note, value), the useful one and the link's not useful one, once each", verdicts)
	}
}
