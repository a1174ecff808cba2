package demo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// TestDemoSeed seeds a fresh database twice: quickly, without new signal
// versions the second time, and removing the signals an earlier demo
// seeded that the pack no longer has, but not those a person saved.
func TestDemoSeed(t *testing.T) {
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
	old := []byte("id: old-demo-signal\nowner: mkt-jane\nwhen:\n  threshold:\n    match: {type: page_view}\n    count: 1\n    within: 1d\n")
	mine := strings.ReplaceAll(string(old), "old-demo-signal", "someones-signal")
	for _, s := range []struct{ src, by string }{{string(old), "demo"}, {mine, "mkt-jane"}} {
		sig, err := detector.ParseSignal([]byte(s.src))
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := json.Marshal(sig)
		if _, err := store.Signals.SaveSignal(ctx, sig.ID, doc, s.src, s.by, true); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	if err := Seed(ctx, StoresOf(store), log); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("seeding %d accounts took %s", len(accountIDs), took)
	// Only a give-up bound: a wall-clock goal belongs in a benchmark, and
	// a busy machine must not fail a correct seed.
	if took > 30*time.Second {
		t.Errorf("seeding took %s, want it to finish (under 30s)", took)
	}
	first, err := store.Signals.ListSignals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := Seed(ctx, StoresOf(store), log); err != nil {
		t.Fatal(err)
	}
	second, err := store.Signals.ListSignals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, s := range second {
		ids = append(ids, s.ID)
		if i >= len(first) || first[i].Version != s.Version {
			t.Errorf("signal %s: a new version on the second seed", s.ID)
		}
	}
	pack := loadDemoPack(t)
	var want []string
	for _, s := range pack {
		want = append(want, s.ID)
	}
	want = append(want, "someones-signal")
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("signals after seeding = %v, want the pack and someones-signal, not old-demo-signal", ids)
	}
	// The manager follows two reps, once however often the demo seeds.
	if reps, err := store.People.Subscriptions(ctx, "mgr-maya"); err != nil || !slices.Equal(reps, []string{"rep-ben", "rep-cho"}) {
		t.Errorf("mgr-maya follows %v (%v), want rep-ben and rep-cho", reps, err)
	}
	// The default stage model, once: a second seed leaves it, and every
	// signal it names is in the pack.
	stages, err := store.Alerts.StageModel(ctx)
	if err != nil || stages.Version != 1 || stages.SavedBy != "demo" || stages.Accepted != "sales-accepted" {
		t.Errorf("stage model after seeding twice = %+v, %v; want version 1 by demo", stages, err)
	}
	if err := stages.Validate(); err != nil {
		t.Errorf("the default stage model: %v", err)
	}
	inPack := map[string]bool{}
	for _, s := range pack {
		inPack[s.ID] = true
	}
	for _, st := range stages.Stages {
		for _, sig := range st.Signals {
			if !inPack[sig] {
				t.Errorf("stage %s names %s, which is not in the signal pack", st.ID, sig)
			}
		}
	}
	for i, id := range []string{"acme", "amber-analytics", accountIDs[len(accountIDs)-1]} {
		a, err := store.Directory.GetAccount(ctx, id)
		j := accountIndex[id]
		if err != nil || a.Name != accountNames[j] || a.OwnerID != ownerOf(j) || a.Lifecycle != lifecycleOf(j) {
			t.Errorf("account %d %s = %+v, %v", i, id, a, err)
		}
	}
}
