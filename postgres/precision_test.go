package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

func TestPrecisionCountsFeedbackAndMedianAckTime(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	users := []string{"ana", "ben", "cho", "jane"}
	for _, u := range users {
		putUsers(t, s, dowser.User{ID: u, Name: u, Role: dowser.RoleRep})
	}
	for _, id := range []string{"al-1", "al-2", "al-3"} {
		if _, err := s.Alerts.SaveAlert(ctx, alert(id), users); err != nil {
			t.Fatal(err)
		}
	}
	other := alert("al-other")
	other.SignalID = "other"
	if _, err := s.Alerts.SaveAlert(ctx, other, []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signals.SaveSignal(ctx, "quiet", []byte(`{"id":"quiet"}`), "id: quiet", "jane", true); err != nil {
		t.Fatal(err)
	}

	// Four acknowledgements, 10, 20, 40 and 100 s after delivery (median
	// 30 s); three verdicts; one delivery only seen.
	for _, act := range []struct {
		user, alert, verdict string
		after                time.Duration
	}{
		{"ana", "al-1", "useful", 10 * time.Second},
		{"ben", "al-1", "not_useful", 20 * time.Second},
		{"cho", "al-2", "", 40 * time.Second},
		{"ana", "al-3", "won", 100 * time.Second},
	} {
		var err error
		if act.verdict == "" {
			err = s.Alerts.Ack(ctx, act.user, act.alert, "")
		} else {
			err = s.Alerts.Feedback(ctx, act.user, act.alert, act.verdict, "", "")
		}
		if err != nil {
			t.Fatal(err)
		}
		backdate(t, url, act.user, act.alert, act.after)
	}
	if err := s.Alerts.Seen(ctx, "jane", "al-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Seen(ctx, "jane", "al-other"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("seen of an alert not addressed to the user: %v, want ErrNotFound", err)
	}

	got, err := s.Alerts.SignalPrecision(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	median := 30.0
	want := dowser.Precision{SignalID: "s", Alerts: 3, Delivered: 12, Acked: 4, Useful: 1, NotUseful: 1, Won: 1, MedianAckSeconds: &median}
	if !samePrecision(got, want) {
		t.Errorf("precision of s = %s, want %s", show(got), show(want))
	}
	if _, err := s.Alerts.SignalPrecision(ctx, "never"); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("precision of an unknown signal: %v, want ErrNotFound", err)
	}
	all, err := s.Alerts.ListPrecision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantAll := []dowser.Precision{
		{SignalID: "other", Alerts: 1, Delivered: 1},
		{SignalID: "quiet"},
		want,
	}
	if len(all) != len(wantAll) {
		t.Fatalf("ListPrecision = %v, want %v", all, wantAll)
	}
	for i := range all {
		if !samePrecision(all[i], wantAll[i]) {
			t.Errorf("ListPrecision[%d] = %s, want %s", i, show(all[i]), show(wantAll[i]))
		}
	}
}

// backdate moves a delivery's creation back, so that it was acknowledged
// after seconds.
func backdate(t *testing.T, url, user, alert string, after time.Duration) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	tag, err := c.Exec(ctx, `UPDATE deliveries SET created_at = acked_at - $3::interval WHERE user_id = $1 AND alert_id = $2`, user, alert, after.String())
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("backdating %s's %s: %v, %d rows", user, alert, err, tag.RowsAffected())
	}
}

func samePrecision(a, b dowser.Precision) bool {
	am, bm := a.MedianAckSeconds, b.MedianAckSeconds
	a.MedianAckSeconds, b.MedianAckSeconds = nil, nil
	if a != b || (am == nil) != (bm == nil) {
		return false
	}
	return am == nil || (*am-*bm < 1e-6 && *bm-*am < 1e-6)
}

func show(p dowser.Precision) string {
	m := "null"
	if p.MedianAckSeconds != nil {
		m = time.Duration(*p.MedianAckSeconds * float64(time.Second)).String()
	}
	p.MedianAckSeconds = nil
	return fmt.Sprintf("%+v median %s", p, m)
}
