package detector

import (
	"math/rand/v2"
	"os"
	"path/filepath"
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

func TestWriteLegacySnapshot(t *testing.T) {
	if os.Getenv("DOWSER_WRITE_LEGACY") != "1" {
		t.Skip("set DOWSER_WRITE_LEGACY=1 to write " + legacyFile)
	}
	e := New(parseAll(t, snapshotSignals))
	evaluateAll(e, legacyEvents()[:legacyCut])
	data, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(legacyFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
