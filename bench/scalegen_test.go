package bench

import (
	"testing"
	"time"

	"github.com/dowserhq/dowser/detector"
)

// The state-at-scale traffic makes as many subjects as it says, counted
// as the detector counts them, with the default pack, and fires nothing.
func TestScaleTrafficSubjects(t *testing.T) {
	pack, err := signalSet(7)
	if err != nil {
		t.Fatal(err)
	}
	for _, subjects := range []int{1, 6, 7, 12, 1000, 12_345} {
		tr := newScaleTraffic(subjects, epoch, time.Hour)
		if got := tr.subjects(tr.events()); got < subjects || got > subjects+1 {
			t.Errorf("%d subjects asked: traffic says %d", subjects, got)
		}
		e := detector.New(pack)
		for i := range tr.events() {
			ev := tr.event(i)
			if err := ev.Validate(); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
			if a := e.Evaluate(&ev); len(a) > 0 {
				t.Fatalf("event %d fired %s", i, a[0].SignalID)
			}
			if i%97 == 1 || i == tr.events()-1 {
				if got, want := e.ActiveSubjects(), tr.subjects(i+1); got != want {
					t.Fatalf("%d subjects asked: after %d events the detector holds %d subjects, traffic says %d", subjects, i+1, got, want)
				}
			}
		}
	}
}
