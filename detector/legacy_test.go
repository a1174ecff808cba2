package detector

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dowserhq/dowser/schema"
)

// legacyFile is a whole-state gob snapshot written by the layout before
// incremental checkpoints; DOWSER_WRITE_LEGACY=1 writes it again (only ever
// from a build whose gob layout is the one being kept).
var legacyFile = filepath.Join("testdata", "legacy-snapshot.gob")

// legacyEvents are the events the legacy snapshot saw (the first
// legacyCut) and their continuation.
func legacyEvents() []schema.Event {
	return randomEvents(rand.New(rand.NewPCG(42, 7)), 3000)
}

const legacyCut = 1500

// legacySignals are the signals the legacy snapshot was written with.
var legacySignals = snapshotSignals[:4]

func TestWriteLegacySnapshot(t *testing.T) {
	if os.Getenv("DOWSER_WRITE_LEGACY") != "1" {
		t.Skip("set DOWSER_WRITE_LEGACY=1 to write " + legacyFile)
	}
	e := New(parseAll(t, legacySignals))
	evaluateAll(e, legacyEvents()[:legacyCut])
	data, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(legacyFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLegacySnapshotMigrates restores the checked-in whole-state snapshot,
// rewrites it as rows, restores those into a new engine, and expects both
// to continue the run as an engine that never stopped.
func TestLegacySnapshotMigrates(t *testing.T) {
	data, err := os.ReadFile(legacyFile)
	if err != nil {
		t.Fatal(err)
	}
	sigs := parseAll(t, legacySignals)
	events := legacyEvents()
	whole := New(sigs)
	evaluateAll(whole, events[:legacyCut])
	want := ids(evaluateAll(whole, events[legacyCut:]))
	if len(want) == 0 {
		t.Fatal("the continuation fires nothing; it tests nothing")
	}

	legacy := New(sigs)
	if err := legacy.RestoreSnapshot(data); err != nil {
		t.Fatalf("the legacy layout no longer decodes: %v", err)
	}
	if legacy.Subjects() == 0 {
		t.Fatal("the legacy snapshot restored no state")
	}
	legacy.MarkAllChanged()
	rows := table{}
	meta := rows.apply(legacy)
	if len(rows) < legacy.ActiveSubjects()+1 {
		t.Fatalf("%d rows for %d subjects and the recent ids", len(rows), legacy.ActiveSubjects())
	}
	migrated := restoreRows(t, rand.New(rand.NewPCG(1, 2)), sigs, legacy, meta, rows)
	sameState(t, "migrated", canonical(t, migrated), canonical(t, legacy))

	for name, e := range map[string]*Engine{"legacy": legacy, "migrated": migrated} {
		if got := ids(evaluateAll(e, events[legacyCut:])); !slices.Equal(got, want) {
			t.Errorf("%s: %d alerts, want %d; first difference: %s", name, len(got), len(want), firstDiff(got, want))
		}
	}
}
