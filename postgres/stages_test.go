package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

func saveStages(t *testing.T, s *postgres.Store, by string) dowser.StageModel {
	t.Helper()
	m, err := s.Alerts.SaveStageModel(context.Background(), dowser.StageModel{
		Stages: []dowser.Stage{
			{ID: "engaged", Label: "Engaged", Signals: []string{"visit"}},
			{ID: "mql", Label: "Marketing-qualified", Signals: []string{"s"}},
			{ID: "sales-accepted", Label: "Sales-accepted"},
			{ID: "opportunity", Label: "Opportunity", Signals: []string{"demo-booked"}},
		},
		Accepted: "sales-accepted",
	}, by)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stageOf(t *testing.T, s *postgres.Store, account string) dowser.AccountStage {
	t.Helper()
	st, err := s.Alerts.AccountStage(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStageModelsAreVersioned(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	none, err := s.Alerts.StageModel(ctx)
	if err != nil || none.Version != 0 || len(none.Stages) != 0 {
		t.Fatalf("model before any save = %+v, %v; want version 0 without stages", none, err)
	}
	first := saveStages(t, s, "mia")
	second, err := s.Alerts.SaveStageModel(ctx, dowser.StageModel{Stages: []dowser.Stage{{ID: "engaged", Label: "Engaged"}}}, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != 1 || second.Version != 2 || second.SavedBy != "ana" || second.Stages[0].Signals == nil {
		t.Fatalf("saved versions %d and %d by %q (signals %v), want 1 and 2 by ana with [] signals", first.Version, second.Version, second.SavedBy, second.Stages[0].Signals)
	}
	cur, err := s.Alerts.StageModel(ctx)
	if err != nil || cur.Version != 2 {
		t.Fatalf("model in force = %+v, %v; want version 2", cur, err)
	}
	old, err := s.Alerts.StageVersion(ctx, 1)
	if err != nil || len(old.Stages) != 4 || old.Accepted != "sales-accepted" || old.SavedBy != "mia" {
		t.Fatalf("version 1 = %+v, %v; want its 4 stages saved by mia", old, err)
	}
	if _, err := s.Alerts.StageVersion(ctx, 3); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("version 3: %v, want ErrNotFound", err)
	}
	hist, err := s.Alerts.StageHistory(ctx, 10)
	if err != nil || len(hist) != 2 || hist[0].Version != 2 || hist[1].Version != 1 {
		t.Fatalf("history = %+v, %v; want versions 2 then 1", hist, err)
	}
}

func TestStageTransitionsAreExactlyOnceUnderReplay(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	putUsers(t, s, dowser.User{ID: "ana", Name: "Ana Ruiz", Role: dowser.RoleRep})
	// An alert before any model moves nothing.
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-0"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	if st := stageOf(t, s, "acme"); st.Stage != "" || len(st.Transitions) != 0 {
		t.Fatalf("stage without a model = %+v, want none", st)
	}
	saveStages(t, s, "mia")

	// Signal "s" moves acme to mql; the same alert replayed, concurrently
	// and after, moves nothing more.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	st := stageOf(t, s, "acme")
	if st.Stage != "mql" || st.Since == nil || len(st.Transitions) != 1 {
		t.Fatalf("after al-1 and its replays: %+v, want one move to mql", st)
	}
	if tr := st.Transitions[0]; tr.From != "" || tr.To != "mql" || tr.AlertID != "al-1" || tr.SignalID != "s" || tr.Cause != dowser.MovedBySignal || tr.ModelVersion != 1 {
		t.Errorf("transition = %+v", tr)
	}

	// An alert of an earlier stage's signal does not move acme back.
	back := alert("al-2")
	back.SignalID = "visit"
	if _, err := s.Alerts.SaveAlert(ctx, back, []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	if st := stageOf(t, s, "acme"); st.Stage != "mql" || len(st.Transitions) != 1 {
		t.Fatalf("after an engaged signal: %+v, want still mql", st)
	}

	// Accepting the handoff moves to sales-accepted, once however often.
	for range 3 {
		moved, err := s.Alerts.DecideHandoff(ctx, "ana", "al-1", dowser.Handoff{Decision: dowser.HandoffAccept})
		if err != nil {
			t.Fatal(err)
		}
		_ = moved
	}
	st = stageOf(t, s, "acme")
	if st.Stage != "sales-accepted" || len(st.Transitions) != 2 {
		t.Fatalf("after accepting thrice: %+v, want one more move, to sales-accepted", st)
	}
	if tr := st.Transitions[0]; tr.From != "mql" || tr.Cause != dowser.MovedByHandoff || tr.By != "ana" || tr.AlertID != "al-1" {
		t.Errorf("handoff transition = %+v", tr)
	}
	// Accepting another alert's handoff does not move acme again, nor back.
	if moved, err := s.Alerts.DecideHandoff(ctx, "ana", "al-2", dowser.Handoff{Decision: dowser.HandoffAccept}); err != nil || moved {
		t.Fatalf("accepting al-2: moved %v, %v; want no move", moved, err)
	}
	// A later stage's signal moves on.
	opp := alert("al-3")
	opp.SignalID = "demo-booked"
	if _, err := s.Alerts.SaveAlert(ctx, opp, []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	if st := stageOf(t, s, "acme"); st.Stage != "opportunity" || len(st.Transitions) != 3 {
		t.Fatalf("after demo-booked: %+v, want opportunity after 3 moves", st)
	}

	// A new model in which "s" and acceptance lead further still: al-1
	// replayed, and its handoff accepted again, move nothing, for al-1
	// moved acme once by each cause already.
	if _, err := s.Alerts.SaveStageModel(ctx, dowser.StageModel{Stages: []dowser.Stage{
		{ID: "opportunity", Label: "Opportunity"},
		{ID: "negotiation", Label: "Negotiation", Signals: []string{"s"}},
		{ID: "closing", Label: "Closing"},
	}, Accepted: "closing"}, "mia"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-1"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	if moved, err := s.Alerts.DecideHandoff(ctx, "ana", "al-1", dowser.Handoff{Decision: dowser.HandoffAccept}); err != nil || moved {
		t.Fatalf("accepting al-1 again: moved %v, %v; want no move", moved, err)
	}
	if st := stageOf(t, s, "acme"); st.Stage != "opportunity" || len(st.Transitions) != 3 {
		t.Fatalf("after replaying al-1 under a new model: %+v, want still opportunity after 3 moves", st)
	}
	// A new alert of "s" does move on, under the new model.
	if _, err := s.Alerts.SaveAlert(ctx, alert("al-4"), []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	if st := stageOf(t, s, "acme"); st.Stage != "negotiation" || st.Transitions[0].ModelVersion != 2 {
		t.Fatalf("after al-4: %+v, want negotiation under version 2", st)
	}
}

func TestHandoffDecisionsAndReport(t *testing.T) {
	ctx := context.Background()
	s, url := openURL(t)
	putUsers(t, s, dowser.User{ID: "ana", Name: "Ana Ruiz", Role: dowser.RoleRep}, dowser.User{ID: "ben", Name: "Ben Ode", Role: dowser.RoleRep})
	saveStages(t, s, "mia")
	for _, id := range []string{"al-1", "al-2", "al-3"} {
		if _, err := s.Alerts.SaveAlert(ctx, alert(id), []string{"ana", "ben"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Alerts.DecideHandoff(ctx, "ana", "al-1", dowser.Handoff{Decision: dowser.HandoffReject, Reason: "nope"}); !errors.Is(err, dowser.ErrUnknownReason) {
		t.Errorf("unknown reason: %v, want ErrUnknownReason", err)
	}
	if _, err := s.Alerts.DecideHandoff(ctx, "mia", "al-1", dowser.Handoff{Decision: dowser.HandoffAccept}); !errors.Is(err, dowser.ErrNotFound) {
		t.Errorf("not a recipient: %v, want ErrNotFound", err)
	}
	for _, d := range []struct {
		user, alert, decision string
		after                 time.Duration
	}{
		{"ana", "al-1", dowser.HandoffAccept, 60 * time.Second},
		{"ana", "al-2", dowser.HandoffAccept, 180 * time.Second},
		{"ana", "al-3", dowser.HandoffReject, 0},
		{"ben", "al-1", dowser.HandoffReject, 0},
	} {
		h := dowser.Handoff{Decision: d.decision}
		if d.decision == dowser.HandoffReject {
			h.Reason = "timing"
		}
		if _, err := s.Alerts.DecideHandoff(ctx, d.user, d.alert, h); err != nil {
			t.Fatal(err)
		}
		if d.after > 0 {
			c, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Exec(ctx, `UPDATE deliveries SET created_at = handoff_at - $3::interval WHERE user_id = $1 AND alert_id = $2`, d.user, d.alert, d.after.String())
			c.Close(ctx)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := s.Alerts.HandoffReport(ctx, time.Now(), 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Signals) != 1 || len(rep.Reps) != 2 {
		t.Fatalf("report = %+v, want one signal and two reps", rep)
	}
	sig := rep.Signals[0]
	if sig.Key != "s" || sig.Handed != 6 || sig.Accepted != 2 || sig.Rejected != 2 || sig.AcceptanceRate == nil || *sig.AcceptanceRate != 0.5 ||
		sig.MedianAcceptSeconds == nil || *sig.MedianAcceptSeconds < 119 || *sig.MedianAcceptSeconds > 121 {
		t.Errorf("signal s = %+v, want 6 handed, 2 accepted, 2 rejected, rate 0.5, median 120 s", show2(sig))
	}
	ana, ben := rep.Reps[0], rep.Reps[1]
	if ana.Key != "ana" || ana.Name != "Ana Ruiz" || ana.Accepted != 2 || ana.Rejected != 1 || ben.Accepted != 0 || ben.Rejected != 1 ||
		ben.MedianAcceptSeconds != nil || *ben.AcceptanceRate != 0 {
		t.Errorf("reps = %+v and %+v", show2(ana), show2(ben))
	}
}

func show2(o dowser.HandoffOutcome) map[string]any {
	m := map[string]any{"key": o.Key, "name": o.Name, "handed": o.Handed, "accepted": o.Accepted, "rejected": o.Rejected}
	if o.AcceptanceRate != nil {
		m["rate"] = *o.AcceptanceRate
	}
	if o.MedianAcceptSeconds != nil {
		m["median"] = *o.MedianAcceptSeconds
	}
	return m
}

// Alerts of an early and a later stage's signal, stored at once for one
// account, leave it at the later stage: a move that lost the race to a
// later one does not take the account back.
func TestConcurrentStageMovesOnlyGoForward(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	putUsers(t, s, dowser.User{ID: "ana", Name: "Ana Ruiz", Role: dowser.RoleRep})
	saveStages(t, s, "mia")
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			a := alert("al-" + string(rune('a'+i)))
			a.AccountID = "beta"
			if i%2 == 0 {
				a.SignalID = "visit"
			}
			if _, err := s.Alerts.SaveAlert(ctx, a, []string{"ana"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := stageOf(t, s, "beta")
	if st.Stage != "mql" || len(st.Transitions) == 0 || len(st.Transitions) > 2 || st.Transitions[0].To != "mql" {
		t.Fatalf("beta after 12 concurrent alerts: %+v, want mql after at most engaged then mql", st)
	}
}
