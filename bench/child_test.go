package bench

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	const exposition = `# HELP dowser_events_consumed_total Messages read.
# TYPE dowser_events_consumed_total counter
dowser_events_consumed_total{partition="0"} 1.5e+06
dowser_events_consumed_total{partition="1"} 250000
dowser_checkpoint_duration_seconds_bucket{le="+Inf"} 7
dowser_checkpoint_duration_seconds_sum 3.5
dowser_checkpoint_duration_seconds_count 7
odd_labels{path="/a b}c",q="x\"}y"} 2 1700000000000
go_gc_heap_live_bytes 1.2345678e+07
`
	m, err := parseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"dowser_events_consumed_total":              1_750_000,
		"dowser_checkpoint_duration_seconds_sum":    3.5,
		"dowser_checkpoint_duration_seconds_count":  7,
		"dowser_checkpoint_duration_seconds_bucket": 7,
		"odd_labels":            2,
		"go_gc_heap_live_bytes": 12_345_678,
	} {
		if got, ok := m.get(name); !ok || got != want {
			t.Errorf("%s = %v (exposed %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := m.get("dowser_checkpoint_written_bytes_total"); ok {
		t.Error("a metric not exposed reads as exposed")
	}
	for _, bad := range []string{"", "x{a=\"1\" 2\n", "x notanumber\n", "x\n"} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMetrics(%q) succeeded, want an error", bad)
		}
	}
}

func TestStatusField(t *testing.T) {
	status := "Name:\tdowser\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	if got := statusField(status, "VmRSS"); got != 100<<20 {
		t.Errorf("VmRSS = %d, want %d", got, 100<<20)
	}
	if got := statusField(status, "VmHWM"); got != 200<<20 {
		t.Errorf("VmHWM = %d, want %d", got, 200<<20)
	}
	if got := statusField(status, "VmSwap"); got != 0 {
		t.Errorf("VmSwap = %d, want 0 when absent", got)
	}
}

// The settled window's p99 bound of event processing comes from the
// difference of two scrapes' buckets, summed over partitions.
func TestScaleWindowFindsTheP99Bucket(t *testing.T) {
	scrape := func(fast, slow float64) promMetrics {
		exp := fmt.Sprintf(`dowser_event_processing_seconds_bucket{partition="0",le="0.001"} %[1]v
dowser_event_processing_seconds_bucket{partition="0",le="0.016"} %[1]v
dowser_event_processing_seconds_bucket{partition="0",le="0.064"} %[2]v
dowser_event_processing_seconds_bucket{partition="0",le="+Inf"} %[2]v
process_cpu_seconds_total %[1]v
`, fast, fast+slow)
		m, err := parseMetrics(strings.NewReader(exp))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got := scrape(0, 0).bounds("dowser_event_processing_seconds"); !slices.Equal(got, []string{"0.001", "0.016", "0.064", "+Inf"}) {
		t.Fatalf("bounds %v", got)
	}
	// Before: 1000 fast events and 500 slow; the window adds 980 fast and
	// 20 slow (2%): its p99 is in the 64 ms bucket, though the totals'
	// would be too.
	w := scaleWindow(scrape(1000, 500), scrape(1980, 520), 10)
	if w.ProcessingP99Bound != 0.064 || w.ServiceCPUSeconds != 980 {
		t.Fatalf("window %+v", w)
	}
	// 5 slow in 1000: 99% within 1 ms.
	if w := scaleWindow(scrape(1000, 500), scrape(1995, 505), 10); w.ProcessingP99Bound != 0.001 {
		t.Fatalf("window %+v", w)
	}
}
