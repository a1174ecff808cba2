package postgres_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

// stepAfter is a plan that takes the next step once every after has
// passed since the alert (the calendar is tested on its own), and stops
// an acknowledged alert.
func stepAfter(now time.Time, after time.Duration) func(dowser.PendingEscalation) dowser.EscalationPlan {
	return func(p dowser.PendingEscalation) dowser.EscalationPlan {
		switch {
		case p.Acked:
			return dowser.EscalationPlan{Stop: "acknowledged"}
		case p.NextAt == nil:
			return dowser.EscalationPlan{NextAt: p.CreatedAt.Add(after)}
		}
		pl := dowser.EscalationPlan{Step: p.NextStep, Reason: "late"}
		if p.NextStep == 1 {
			pl.NextAt = now.Add(after)
		}
		return pl
	}
}

func escalationFixture(t *testing.T) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	s := open(t)
	for _, u := range []dowser.User{{ID: "ana", Role: dowser.RoleRep}, {ID: "ben", Role: dowser.RoleRep}, {ID: "cara", Role: dowser.RoleRep}, {ID: "max", Role: dowser.RoleManager}} {
		u.Name = u.ID
		if err := s.People.PutUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.People.Subscribe(ctx, "max", "ana"); err != nil {
		t.Fatal(err)
	}
	if err := s.Directory.PutAccount(ctx, dowser.Account{ID: "acme", Name: "Acme", Region: "EMEA", Lifecycle: "prospect"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []dowser.TerritoryRule{{ID: "r1", Priority: 1, Region: "emea", RepID: "ana"}, {ID: "r2", Priority: 2, Region: "emea", RepID: "cara"},
		{ID: "r3", Priority: 3, Region: "emea", RepID: "ben"}, {ID: "r0", Priority: 0, Region: "apac", RepID: "cara"}} {
		if err := s.Directory.PutTerritoryRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestEscalationStepsDeliverOnceAndSkipTheAway walks one alert through
// both steps: nothing before its deadline; then its rep's manager, whose
// delivery moves to a new sequence with an outbox row and the step in the
// alert's document; then, with two escalators racing, the next territory
// rep once (the rule's away rep passed over) with a channel delivery.
func TestEscalationStepsDeliverOnceAndSkipTheAway(t *testing.T) {
	ctx := context.Background()
	s := escalationFixture(t)
	now := time.Now().Truncate(time.Microsecond) // as PostgreSQL keeps it
	until := now.Add(48 * time.Hour)
	if err := s.Escalations.PutCalendar(ctx, dowser.Calendar{UserID: "cara", TimeZone: "UTC", AwayUntil: &until}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Channels.AddChannel(ctx, dowser.Channel{UserID: "ben", Kind: dowser.ChannelSlack, Target: "https://hooks.example/ben", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	a := alert("al-1")
	a.Rep, a.Priority = "ana", "urgent"
	if _, err := s.Alerts.SaveAlert(ctx, a, []string{"ana", "max"}); err != nil {
		t.Fatal(err)
	}
	steps, _, err := s.Escalations.Escalate(ctx, now, 10, stepAfter(now, 15*time.Minute))
	if err != nil || len(steps) != 0 {
		t.Fatalf("first look: steps %v, err %v; want none, only a deadline", steps, err)
	}
	if steps, _, _ := s.Escalations.Escalate(ctx, now.Add(10*time.Minute), 10, stepAfter(now, 15*time.Minute)); len(steps) != 0 {
		t.Fatalf("before the deadline: steps %v", steps)
	}

	t1 := now.Add(16 * time.Minute)
	steps, _, err = s.Escalations.Escalate(ctx, t1, 10, stepAfter(t1, 15*time.Minute))
	if err != nil || len(steps) != 1 || steps[0].Kind != dowser.EscalateToManagers || !slices.Equal(steps[0].To, []string{"max"}) {
		t.Fatalf("after the deadline: steps %+v, err %v; want step 1 to max", steps, err)
	}
	ds, err := s.Alerts.DeliveriesAfter(ctx, "max", 1, 10)
	if err != nil || len(ds) != 1 || ds[0].Seq != 2 || ds[0].AlertID != "al-1" {
		t.Fatalf("max's deliveries after seq 1 = %+v, %v; want al-1 again at seq 2", ds, err)
	}
	var body struct {
		Escalations []struct {
			Step int
			Kind string
			To   []string
		}
	}
	if err := json.Unmarshal(ds[0].Alert, &body); err != nil || len(body.Escalations) != 1 || body.Escalations[0].To[0] != "max" {
		t.Errorf("alert document %s: want its escalation to max", ds[0].Alert)
	}
	var published []string
	if _, err := s.Alerts.PublishPending(ctx, -time.Hour, 10, func(_ context.Context, msgs []dowser.OutboxMessage) error {
		for _, m := range msgs {
			for _, d := range m.Deliveries {
				published = append(published, d.UserID)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(published, "max") {
		t.Errorf("outbox published deliveries to %v; want one to max for the escalation", published)
	}

	// Two escalators at once: step 2 happens once.
	t2 := t1.Add(16 * time.Minute)
	var wg sync.WaitGroup
	results := make([][]dowser.EscalationStep, 2)
	for i := range results {
		wg.Go(func() {
			var err error
			if results[i], _, err = s.Escalations.Escalate(ctx, t2, 10, stepAfter(t2, 15*time.Minute)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	all := append(results[0], results[1]...)
	if len(all) != 1 || all[0].Kind != dowser.EscalateToTerritory || !slices.Equal(all[0].To, []string{"ben"}) {
		t.Fatalf("racing escalators took %+v; want step 2 once, to ben (cara is away)", all)
	}
	if again, _, _ := s.Escalations.Escalate(ctx, t2.Add(time.Hour), 10, stepAfter(t2, 15*time.Minute)); len(again) != 0 {
		t.Errorf("after the last step: %+v", again)
	}
	recorded, err := s.Escalations.EscalationSteps(ctx, "al-1")
	if err != nil || len(recorded) != 2 || recorded[0].Step != 1 || recorded[1].Step != 2 || !recorded[1].At.Equal(t2) {
		t.Errorf("recorded steps %+v, %v", recorded, err)
	}
	claimed, err := s.Channels.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].UserID != "ben" {
		t.Errorf("channel deliveries %+v, %v; want one to ben's Slack", claimed, err)
	}
}

// TestEscalationStopsWhenAcknowledged: an ack by any recipient ends the
// follow-up; a step that finds nobody is recorded and the next one is
// due at once.
func TestEscalationStopsWhenAcknowledged(t *testing.T) {
	ctx := context.Background()
	s := escalationFixture(t)
	now := time.Now().Truncate(time.Microsecond) // as PostgreSQL keeps it
	a := alert("al-acked")
	a.Rep = "ana"
	if _, err := s.Alerts.SaveAlert(ctx, a, []string{"ana", "max"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Alerts.Ack(ctx, "max", "al-acked", ""); err != nil {
		t.Fatal(err)
	}
	if steps, _, err := s.Escalations.Escalate(ctx, now.Add(time.Hour), 10, stepAfter(now, time.Minute)); err != nil || len(steps) != 0 {
		t.Fatalf("acknowledged alert escalated: %+v, %v", steps, err)
	}

	b := alert("al-ben")
	b.Rep = "ben" // no manager follows ben
	if _, err := s.Alerts.SaveAlert(ctx, b, []string{"ben"}); err != nil {
		t.Fatal(err)
	}
	var steps []dowser.EscalationStep
	for i := range 3 {
		at := now.Add(time.Duration(i+1) * 10 * time.Minute)
		got, _, err := s.Escalations.Escalate(ctx, at, 10, stepAfter(at, 5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, got...)
	}
	if len(steps) != 2 || len(steps[0].To) != 0 || !slices.Equal(steps[1].To, []string{"ana"}) || !steps[1].At.Equal(now.Add(30*time.Minute)) {
		t.Errorf("steps %+v; want step 1 to nobody, then step 2 to ana at the next round", steps)
	}
}

func TestCalendarRoundTripAndAway(t *testing.T) {
	ctx := context.Background()
	s := escalationFixture(t)
	c, err := s.Escalations.Calendar(ctx, "ana")
	if err != nil || len(c.WorkDays) != 0 || c.TimeZone != "UTC" {
		t.Fatalf("unset calendar = %+v, %v; want round the clock in UTC", c, err)
	}
	from, until := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	want := dowser.Calendar{UserID: "ana", TimeZone: "Europe/Madrid", WorkDays: []string{"mon", "fri", "sun"}, WorkStart: "08:30", WorkEnd: "17:00", AwayFrom: &from, AwayUntil: &until}
	if err := s.Escalations.PutCalendar(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Escalations.Calendar(ctx, "ana")
	if err != nil || got.TimeZone != want.TimeZone || !slices.Equal(got.WorkDays, want.WorkDays) || got.WorkStart != "08:30" || got.WorkEnd != "17:00" || !got.AwayUntil.Equal(until) {
		t.Errorf("calendar = %+v, %v; want %+v", got, err, want)
	}
	away, err := s.Escalations.Away(ctx, []string{"ana", "ben"}, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if err != nil || !slices.Equal(away, []string{"ana"}) {
		t.Errorf("away = %v, %v; want ana", away, err)
	}
	if away, _ := s.Escalations.Away(ctx, []string{"ana"}, until); len(away) != 0 {
		t.Errorf("away at its end = %v; want back", away)
	}
	if err := s.Escalations.PutCalendar(ctx, dowser.Calendar{UserID: "nobody"}); err == nil {
		t.Error("calendar of an unknown user saved")
	}
}

// TestEscalationStepSurvivesACrashMidStep: an escalator that dies while it
// takes a step (its transaction never commits) leaves nothing behind, no
// delivery and no record, and the step is due for the next escalator,
// which takes it once.
func TestEscalationStepSurvivesACrashMidStep(t *testing.T) {
	s := escalationFixture(t)
	now := time.Now().Truncate(time.Microsecond)
	a := alert("al-crash")
	a.Rep = "ana"
	if _, err := s.Alerts.SaveAlert(context.Background(), a, []string{"ana"}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Hour)
	ctx, die := context.WithCancel(context.Background())
	plan := stepAfter(at, time.Minute)
	if _, _, err := s.Escalations.Escalate(ctx, at, 10, func(p dowser.PendingEscalation) dowser.EscalationPlan {
		pl := plan(dowser.PendingEscalation{AlertID: p.AlertID, NextStep: p.NextStep, NextAt: &at})
		die() // the process goes away as it starts the step
		return pl
	}); err == nil {
		t.Fatal("an escalator that died mid-step reported success")
	}
	if ds, _ := s.Alerts.DeliveriesAfter(context.Background(), "max", 0, 10); len(ds) != 0 {
		t.Errorf("the dead escalator's step delivered %+v", ds)
	}
	if steps, _ := s.Escalations.EscalationSteps(context.Background(), "al-crash"); len(steps) != 0 {
		t.Errorf("the dead escalator's step was recorded: %+v", steps)
	}
	var taken []dowser.EscalationStep
	for range 2 {
		got, _, err := s.Escalations.Escalate(context.Background(), at, 10, func(p dowser.PendingEscalation) dowser.EscalationPlan {
			if p.NextAt == nil {
				p.NextAt = &at
			}
			return plan(p)
		})
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, got...)
	}
	if len(taken) == 0 || taken[0].Step != 1 || !slices.Equal(taken[0].To, []string{"max"}) {
		t.Fatalf("after the crash: steps %+v, want step 1 to max", taken)
	}
	if ds, _ := s.Alerts.DeliveriesAfter(context.Background(), "max", 0, 10); len(ds) != 1 {
		t.Errorf("max's deliveries %+v, want the alert once", ds)
	}
}
