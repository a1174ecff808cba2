package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
	"github.com/dowserhq/dowser/schema"
)

// toldVerdicts counts the verdicts the simulated reps give: each is
// announced to every instance's panels as it is stored.
type toldVerdicts struct {
	RepAlerts
	mu   sync.Mutex
	told []string
}

func (t *toldVerdicts) GiveVerdict(ctx context.Context, userID, alertID string, v dowser.Verdict) error {
	if err := t.RepAlerts.GiveVerdict(ctx, userID, alertID, v); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.told = append(t.told, userID+" "+alertID)
	return nil
}

func (t *toldVerdicts) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.told)
}

// TestDemoReps stores alerts for the three demo reps and lets the
// simulated reps act on them under a clock the test moves: nothing before
// the shortest delay, some alerts after 20 s and more by a minute (so the
// times to acknowledge spread), acknowledgements, verdicts with the
// seeded reasons, wins with a value, handoffs accepted and rejected, some
// alerts left unacted, rep-ana untouched, and nothing acted on twice.
func TestDemoReps(t *testing.T) {
	ctx := context.Background()
	store, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := Seed(ctx, StoresOf(store), log); err != nil {
		t.Fatal(err)
	}
	reasons, err := store.Alerts.ListFeedbackReasons(ctx, false)
	if err != nil || len(reasons) == 0 {
		t.Fatalf("seeded feedback reasons = %v, %v", reasons, err)
	}
	seeded := map[string]dowser.FeedbackReason{}
	for _, r := range reasons {
		seeded[r.ID] = r
	}

	// 30 alerts for each rep, on the accounts they own.
	const perRep = 30
	alertsOf := map[string][]string{}
	at := time.Now().UTC()
	for i := range 3 * perRep {
		a := account(i)
		id := fmt.Sprintf("alert-reps-%03d", i)
		al := &schema.Alert{ID: id, SignalID: "pricing-research", SignalVersion: 1, Subject: "account:" + a.ID,
			CustomerID: "c-" + a.ID + "-1", AccountID: a.ID, Rep: a.OwnerID, Priority: "high", Message: "test",
			EventID: "evt-" + id, Time: at, Evidence: []schema.Evidence{}}
		if _, err := store.Alerts.SaveAlert(ctx, al, []string{a.OwnerID}); err != nil {
			t.Fatal(err)
		}
		alertsOf[a.OwnerID] = append(alertsOf[a.OwnerID], id)
	}
	if len(alertsOf[handsOffRep]) != perRep {
		t.Fatalf("alerts of %s = %d, want %d", handsOffRep, len(alertsOf[handsOffRep]), perRep)
	}
	// Stored before t0, so an alert is due at t0 plus its delay at most.
	t0 := time.Now()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	told := &toldVerdicts{RepAlerts: store.Alerts}
	cfg := RepsConfig{Alerts: told, Logger: log,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}

	if n, err := ActOnce(ctx, cfg); err != nil || n != 0 {
		t.Fatalf("acting at once = %d, %v; want nothing before the shortest delay", n, err)
	}

	// RunReps, 20 s on: it acts on the alerts whose delay has passed.
	clock.Store(t0.Add(20 * time.Second).UnixNano())
	rounds := make(chan int, 100)
	runCtx, cancel := context.WithCancel(ctx)
	run := cfg
	run.Every = 10 * time.Millisecond
	run.OnRound = func(n int, err error) {
		if err != nil {
			t.Errorf("round: %v", err)
		}
		select {
		case rounds <- n:
		default:
		}
	}
	done := make(chan error, 1)
	go func() { done <- RunReps(runCtx, run) }()
	early := <-rounds
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunReps = %v, want nil when its context ends", err)
	}
	for len(rounds) > 0 {
		early += <-rounds
	}
	late, err := ActOnce(ctx, withClock(cfg, t0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acted on %d alerts by 20 s, %d more by a minute", early, late)
	if early == 0 || late == 0 {
		t.Errorf("acted on %d alerts by 20 s and %d more by a minute; want some in each, delays of 5 to 40 s", early, late)
	}
	// Nothing twice: a later round, however late, finds nothing to do.
	toldBefore := told.count()
	if n, err := ActOnce(ctx, withClock(cfg, t0.Add(2*time.Minute))); err != nil || n != 0 {
		t.Errorf("acting again = %d, %v; want nothing acted on twice", n, err)
	}
	if told.count() != toldBefore {
		t.Errorf("verdicts given %d times, then %d: a verdict given twice", toldBefore, told.count())
	}

	var acked, unacted, useful, notUseful, won, accepted, rejected int
	for rep, ids := range alertsOf {
		page, err := store.Alerts.FindAlerts(ctx, dowser.AlertQuery{UserID: rep, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		decisions, err := store.Alerts.HandoffDecisions(ctx, rep, ids)
		if err != nil {
			t.Fatal(err)
		}
		if rep == handsOffRep {
			for _, la := range page.Alerts {
				if la.Acked || la.Verdict != "" {
					t.Errorf("%s's alert %s acked %v, verdict %q: want her alerts left alone", rep, la.Cursor.ID, la.Acked, la.Verdict)
				}
			}
			if len(decisions) > 0 {
				t.Errorf("%s's handoffs decided: %+v; want her alerts left alone", rep, decisions)
			}
			continue
		}
		for _, la := range page.Alerts {
			if !la.Acked {
				unacted++
				if la.Verdict != "" {
					t.Errorf("alert %s not acknowledged but judged %s", la.Cursor.ID, la.Verdict)
				}
				continue
			}
			acked++
			switch la.Verdict {
			case dowser.VerdictUseful:
				useful++
			case dowser.VerdictNotUseful, dowser.VerdictWon:
				// A win may go without a reason; a given one is seeded
				// and fits the verdict.
				if r, ok := seeded[la.Reason]; (!ok || !r.Fits(la.Verdict)) && (la.Verdict == dowser.VerdictNotUseful || la.Reason != "") {
					t.Errorf("alert %s judged %s with reason %q, want one of the seeded reasons that fit it", la.Cursor.ID, la.Verdict, la.Reason)
				}
				if la.Verdict == dowser.VerdictNotUseful {
					notUseful++
					break
				}
				won++
				v, err := store.Alerts.StoredVerdict(ctx, rep, la.Cursor.ID)
				if err != nil || v.Value == nil || *v.Value <= 0 || v.Note == "" {
					t.Errorf("won alert %s = %+v, %v; want a value and a note", la.Cursor.ID, v, err)
				}
			}
		}
		for _, d := range decisions {
			switch d.Decision {
			case dowser.HandoffAccept:
				accepted++
			case dowser.HandoffReject:
				rejected++
				if r, ok := seeded[d.Reason]; !ok || !r.Fits(dowser.HandoffReject) {
					t.Errorf("handoff of %s rejected with reason %q, want one of the seeded reasons that fit a rejection", d.AlertID, d.Reason)
				}
			}
		}
	}
	t.Logf("acked %d (useful %d, not useful %d, won %d), unacted %d, handoffs accepted %d, rejected %d",
		acked, useful, notUseful, won, unacted, accepted, rejected)
	if acked != early+late {
		t.Errorf("acked %d alerts, want the %d acted on", acked, early+late)
	}
	for name, n := range map[string]int{"acknowledged": acked, "useful": useful, "not useful": notUseful, "won": won,
		"left unacted": unacted, "handoffs accepted": accepted, "handoffs rejected": rejected} {
		if n == 0 {
			t.Errorf("no alert %s by the demo reps", name)
		}
	}
	if unacted >= acked {
		t.Errorf("%d unacted, %d acked: want most acknowledged", unacted, acked)
	}
	if n := told.count(); n != useful+notUseful+won {
		t.Errorf("gave %d verdicts, want the %d stored", n, useful+notUseful+won)
	}

	// Alerts stored longer ago than the horizon are left as they are: a
	// demo restarted a day later does not answer its backlog.
	for i := range 10 {
		a := account(3*i + 1) // rep-ben's
		id := fmt.Sprintf("alert-reps-old-%02d", i)
		al := &schema.Alert{ID: id, SignalID: "pricing-research", SignalVersion: 1, Subject: "account:" + a.ID,
			CustomerID: "c-" + a.ID + "-1", AccountID: a.ID, Rep: a.OwnerID, Priority: "high", Message: "test",
			EventID: "evt-" + id, Time: at, Evidence: []schema.Evidence{}}
		if _, err := store.Alerts.SaveAlert(ctx, al, []string{a.OwnerID}); err != nil {
			t.Fatal(err)
		}
	}
	stored := time.Now()
	if n, err := ActOnce(ctx, withClock(cfg, stored.Add(repHorizon+time.Minute))); err != nil || n != 0 {
		t.Errorf("acting past the horizon = %d, %v; want nothing", n, err)
	}
	if n, err := ActOnce(ctx, withClock(cfg, stored.Add(time.Minute))); err != nil || n == 0 {
		t.Errorf("acting on the alerts a minute later = %d, %v; want some", n, err)
	}
}

func withClock(cfg RepsConfig, now time.Time) RepsConfig {
	cfg.Now = func() time.Time { return now }
	return cfg
}

// TestDemoRepsPlanIsStable checks that the decisions depend on the alert
// alone and spread over the delays.
func TestDemoRepsPlanIsStable(t *testing.T) {
	reasons := []dowser.FeedbackReason{{ID: "wrong-person", Kinds: dowser.ReasonKinds()}, {ID: "timing", Kinds: dowser.ReasonKinds()}}
	delays := map[time.Duration]bool{}
	for i := range 200 {
		id := fmt.Sprintf("alert-%d", i)
		a, b := planFor("rep-ben", id, true, reasons), planFor("rep-ben", id, true, reasons)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("plan of %s differs between two calls: %+v, %+v", id, a, b)
		}
		if a.delay < repMinDelay || a.delay >= repMinDelay+repDelaySpread*time.Second {
			t.Errorf("plan of %s waits %s, want 5 s to 40 s", id, a.delay)
		}
		delays[a.delay] = true
		if a.verdict != nil {
			if err := a.verdict.Validate(); err != nil {
				t.Errorf("plan of %s: verdict %+v: %v", id, *a.verdict, err)
			}
		}
		if a.handoff != nil {
			if err := a.handoff.Validate(); err != nil {
				t.Errorf("plan of %s: handoff %+v: %v", id, *a.handoff, err)
			}
		}
	}
	if len(delays) < 20 {
		t.Errorf("%d distinct delays over 200 alerts, want them spread", len(delays))
	}
}

// In a run (RunReps), the first alert a rep acts on gets a verdict even
// when its hash says acknowledge only or leave it: a demo whose first
// minute brings a rep one or two alerts still shows a verdict. ActOnce,
// without a run's memory, follows the hash.
func TestDemoRepsFirstActIsAVerdict(t *testing.T) {
	ctx := context.Background()
	store, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := Seed(ctx, StoresOf(store), log); err != nil {
		t.Fatal(err)
	}
	var a dowser.Account
	for i := 0; a.ID == ""; i++ {
		if acc := account(i); acc.OwnerID == ActingReps()[0] {
			a = acc
		}
	}
	// Two alerts whose hashes give no verdict.
	var ids []string
	for i := 0; len(ids) < 2; i++ {
		id := fmt.Sprintf("alert-first-%03d", i)
		if planFor(a.OwnerID, id, true, nil).verdict == nil {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		al := &schema.Alert{ID: id, SignalID: "pricing-research", SignalVersion: 1, Subject: "account:" + a.ID,
			CustomerID: "c-" + a.ID + "-1", AccountID: a.ID, Rep: a.OwnerID, Priority: "high", Message: "test",
			EventID: "evt-" + id, Time: time.Now().UTC(), Evidence: []schema.Evidence{}}
		if _, err := store.Alerts.SaveAlert(ctx, al, []string{a.OwnerID}); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(repMinDelay + repDelaySpread*time.Second)
	told := &toldVerdicts{RepAlerts: store.Alerts}
	cfg := RepsConfig{Alerts: told, Logger: log, Now: func() time.Time { return later }}
	judged := map[string]bool{}
	if _, err := actOnce(ctx, cfg, judged); err != nil {
		t.Fatal(err)
	}
	if n := told.count(); n != 1 || !judged[a.OwnerID] {
		t.Errorf("verdicts given in a run = %d (judged %v), want the first alert's only", n, judged)
	}
}

// Each verdict and rejected handoff the simulated reps give takes a reason
// whose kinds fit it, each such reason in turn (a marketer's too): a win
// is never "wrong person", a not useful verdict and a rejected handoff
// never go without one.
func TestDemoRepsReasonsFitTheVerdict(t *testing.T) {
	notUseful, won, reject := dowser.VerdictNotUseful, dowser.VerdictWon, dowser.HandoffReject
	// The seeded reasons in their order, and two a marketer added.
	offered := []dowser.FeedbackReason{
		{ID: "wrong-person", Kinds: []string{notUseful, reject}},
		{ID: "already-in-touch", Kinds: []string{notUseful, reject}},
		{ID: "no-budget", Kinds: []string{notUseful, reject}},
		{ID: "timing", Kinds: []string{notUseful, reject}},
		{ID: "competitor", Kinds: []string{notUseful, won, reject}},
		{ID: "right-timing", Kinds: []string{won}},
		{ID: "champion", Kinds: []string{won}},
		{ID: "other", Kinds: []string{notUseful, won, reject}},
		{ID: "budget-cut", Kinds: []string{notUseful}},
		{ID: "not-our-segment", Kinds: []string{reject}},
	}
	given := map[string]map[string]int{}
	for i := range 3000 {
		p := planFor("rep-cho", fmt.Sprintf("alert-%d", i), true, offered)
		var decided []struct{ kind, reason string }
		if p.handoff != nil && p.handoff.Decision == reject {
			decided = append(decided, struct{ kind, reason string }{reject, p.handoff.Reason})
		}
		if p.verdict != nil {
			decided = append(decided, struct{ kind, reason string }{p.verdict.Verdict, p.verdict.Reason})
		}
		for _, d := range decided {
			if given[d.kind] == nil {
				given[d.kind] = map[string]int{}
			}
			given[d.kind][d.reason]++
		}
	}
	fitting := func(kind string) []string {
		var out []string
		for _, r := range offered {
			if r.Fits(kind) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	for kind, fit := range map[string][]string{
		dowser.VerdictUseful: {""},
		notUseful:            fitting(notUseful),
		won:                  append([]string{""}, fitting(won)...),
		reject:               fitting(reject),
	} {
		for reason, n := range given[kind] {
			if !slices.Contains(fit, reason) {
				t.Errorf("%d decisions %s with the reason %q, want only %q", n, kind, reason, fit)
			}
		}
		for _, reason := range fit {
			if given[kind][reason] == 0 {
				t.Errorf("no decision %s with the reason %q over 3000 alerts, want each fitting one used: %v", kind, reason, given[kind])
			}
		}
	}
	// With no reason offered, verdicts go without and handoffs are
	// accepted.
	for i := range 200 {
		p := planFor("rep-cho", fmt.Sprintf("alert-%d", i), true, nil)
		if p.verdict != nil && p.verdict.Reason != "" || p.handoff != nil && p.handoff.Decision != dowser.HandoffAccept {
			t.Fatalf("with no reasons offered, a plan %+v", p)
		}
	}
}
