package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
)

// The state-at-scale traffic makes as many subjects as it says, counted
// as the detector counts them, with the default pack, and fires nothing.
func TestScaleTrafficSubjects(t *testing.T) {
	whole, err := deploy.Pack()
	if err != nil {
		t.Fatal(err)
	}
	pack, err := signalSet(len(whole))
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

// The growth's samples give the overall rate, a segment a 100,000 events
// up to a million and a million after, and the checkpoint time in each.
func TestScaleRates(t *testing.T) {
	tr := newScaleTraffic(3_000_000, epoch, time.Hour)
	t0 := time.Unix(1_800_000_000, 0)
	var samples []scaleSample
	// 50,000 events a second, one checkpoint of 0.5 s a second.
	for s := range 51 {
		samples = append(samples, scaleSample{at: t0.Add(time.Duration(s) * time.Second), consumed: float64(s * 50_000),
			cpSum: float64(s) / 2, cpCount: float64(s)})
	}
	res := &ScaleResult{}
	scaleRates(res, samples, tr)
	if res.ConsumeEPS == nil || *res.ConsumeEPS != 50_000 {
		t.Errorf("consume_eps = %v, want 50000", res.ConsumeEPS)
	}
	if res.LastMinuteEPS == nil || *res.LastMinuteEPS != 50_000 {
		t.Errorf("last_minute_eps = %v, want 50000 (over the 50 s there are)", res.LastMinuteEPS)
	}
	var ends []int64
	for _, seg := range res.Segments {
		ends = append(ends, seg.ToEvents)
		if seg.EPS != 50_000 || seg.CheckpointMs == nil || *seg.CheckpointMs != 500 {
			t.Errorf("segment to %d: %v events/s, checkpoint %v ms, want 50000 and 500", seg.ToEvents, seg.EPS, seg.CheckpointMs)
		}
		if want := tr.subjects(int(seg.ToEvents)); seg.ToSubjects != want {
			t.Errorf("segment to %d: %d subjects, want %d", seg.ToEvents, seg.ToSubjects, want)
		}
	}
	want := []int64{100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 900_000, 1_000_000, 2_000_000, 2_500_000}
	if !slices.Equal(ends, want) {
		t.Errorf("segments end at %v, want %v", ends, want)
	}
	if n := len(res.Timeline); n != 3 || res.Timeline[1].Seconds != 30 || res.Timeline[2].Consumed != 2_500_000 {
		t.Errorf("timeline = %+v, want 0 s, 30 s and the last sample", res.Timeline)
	}
}
