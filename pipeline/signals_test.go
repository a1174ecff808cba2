package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/dowserhq/dowser"
)

// fakeSignals is a SignalStore held in memory.
type fakeSignals struct {
	rev     int
	signals []dowser.StoredSignal
}

func (f *fakeSignals) SignalsRevision(context.Context) (string, error) {
	return fmt.Sprint(f.rev), nil
}

func (f *fakeSignals) ListSignals(context.Context) ([]dowser.StoredSignal, error) {
	return f.signals, nil
}

func storedSignal(id string, version int) dowser.StoredSignal {
	doc := fmt.Sprintf(`{"id":%q,"owner":"o","when":{"threshold":{"match":{"type":"page_view","where":"event.properties.?n.orValue(0) > %d"},"count":1,"within":"1h"}}}`, id, version)
	return dowser.StoredSignal{ID: id, Version: version, Enabled: true, Document: []byte(doc)}
}

// TestSignalReloadCompilesOnlyWhatChanged: a reload after one save
// compiles that signal, and keeps the others as compiled.
func TestSignalReloadCompilesOnlyWhatChanged(t *testing.T) {
	src := &fakeSignals{rev: 1}
	for i := range 50 {
		src.signals = append(src.signals, storedSignal(fmt.Sprintf("s%02d", i), 1))
	}
	set := newSignalSet(src, 0, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if err := set.load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := set.compiled.Load(); got != 50 {
		t.Fatalf("first load compiled %d signals, want 50", got)
	}
	before := set.current().signals

	src.rev++
	src.signals[7] = storedSignal("s07", 2)
	src.signals[9].Enabled = false
	if err := set.load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := set.compiled.Load() - 50; got != 1 {
		t.Errorf("reload after one save compiled %d signals, want 1", got)
	}
	after := set.current().signals
	if len(after) != 49 {
		t.Fatalf("reload has %d signals, want 49 (one disabled)", len(after))
	}
	for i, sig := range after {
		want := before[i]
		if i >= 9 {
			want = before[i+1]
		}
		switch {
		case sig.ID == "s07":
			if sig.Version != 2 || sig == before[7] {
				t.Errorf("s07 = version %d (same value %v), want the new version 2", sig.Version, sig == before[7])
			}
		case sig != want:
			t.Errorf("signal %s was rebuilt, want the one compiled before", sig.ID)
		}
	}
}
