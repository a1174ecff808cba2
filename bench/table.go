package bench

import (
	"fmt"
	"io"
)

type row struct {
	name, value, goal, verdict string
}

// WriteTable writes r for people: one row a figure, with its goal and
// whether it was met, then the context and the notes.
func WriteTable(w io.Writer, r *Result) {
	f := func(v *float64, format string) string {
		if v == nil {
			return "not measured"
		}
		return fmt.Sprintf(format, *v)
	}
	verdict := func(v *float64, ok func(float64) bool) string {
		if v == nil {
			return "-"
		}
		if ok(*v) {
			return "met"
		}
		return "MISSED"
	}
	rows := []row{
		{"produce (events/s)", f(r.ProduceEPS, "%.0f"), "", ""},
		{"raw_consume_eps", f(r.RawConsumeEPS, "%.0f"), "", ""},
		{"pipeline_eps", f(r.PipelineEPS, "%.0f"), "", ""},
		{"pipeline_vs_raw", f(r.PipelineVsRaw, "%.2f"), ">= 0.6", verdict(r.PipelineVsRaw, func(v float64) bool { return v >= 0.6 })},
	}
	e10, ok10 := r.EngineEPSPerCore["10"]
	e100, ok100 := r.EngineEPSPerCore["100"]
	e1000, ok1000 := r.EngineEPSPerCore["1000"]
	for _, k := range []string{"10", "100", "1000"} {
		v, ok := r.EngineEPSPerCore[k]
		row := row{"engine_eps_per_core[" + k + "]", "not measured", "", ""}
		if ok {
			row.value = fmt.Sprintf("%.0f", v)
		}
		if k == "100" {
			row.goal = ">= 2,000,000"
			row.verdict = verdict(ptrIf(e100, ok100), func(v float64) bool { return v >= 2_000_000 })
		}
		rows = append(rows, row)
	}
	var drop *float64
	if ok10 && ok1000 && e1000 > 0 {
		drop = ptr(e10 / e1000)
	}
	rows = append(rows,
		row{"engine drop 10 -> 1000 signals", f(drop, "%.2fx"), "< 2x", verdict(drop, func(v float64) bool { return v < 2 })},
		row{"e2e_p50_ms", f(r.E2EP50Ms, "%.1f"), "", ""},
		row{"e2e_p99_ms", f(r.E2EP99Ms, "%.1f"), "<= 20", verdict(r.E2EP99Ms, func(v float64) bool { return v <= 20 })},
		row{"e2e_max_ms", f(r.E2EMaxMs, "%.1f"), "", ""},
		row{"ws_bytes_per_conn", f(r.WSBytesPerConn, "%.0f"), "<= 16384", verdict(r.WSBytesPerConn, func(v float64) bool { return v <= 16<<10 })},
		row{"state_bytes_per_subject", f(r.StateBytesPerSubject, "%.0f"), "<= 512", verdict(r.StateBytesPerSubject, func(v float64) bool { return v <= 512 })},
		row{"cold_state_bytes_per_subject", f(r.ColdStateBytesPerSubject, "%.0f"), "<= 478", verdict(r.ColdStateBytesPerSubject, func(v float64) bool { return v <= 478 })},
	)
	fmt.Fprintf(w, "dowser bench: %d events (%.0f bytes avg), %d partitions, %d pipeline signals, GOMAXPROCS %d\n\n",
		r.Events, r.EventBytesAvg, r.Partitions, r.PipelineSignals, r.GOMAXPROCS)
	fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", "measure", "value", "goal", "")
	for _, row := range rows {
		fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", row.name, row.value, row.goal, row.verdict)
	}
	fmt.Fprintf(w, "\npipeline alerts: %d; state: %d subjects, %d signal-subject states\n", r.PipelineAlerts, r.StateSubjects, r.StateSignalPairs)
	if s := r.Scale; s != nil {
		writeScaleTable(w, s, f, verdict)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

func ptrIf(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &v
}

// writeScaleTable writes the state-at-scale stage's figures, with goals
// (issue #13), and its consume rate by segment.
func writeScaleTable(w io.Writer, s *ScaleResult, f func(*float64, string) string, verdict func(*float64, func(float64) bool) string) {
	mib := func(v *float64) *float64 {
		if v == nil {
			return nil
		}
		return ptr(*v / (1 << 20))
	}
	grown := verdict(s.ConsumeEPS, func(v float64) bool { return s.GrowthComplete && v >= 100_000 })
	rows := []row{
		{"scale consume_eps", f(s.ConsumeEPS, "%.0f"), ">= 100,000", grown},
		{"scale last_minute_eps", f(s.LastMinuteEPS, "%.0f"), "", ""},
		{"scale checkpoint_mean_ms", f(s.CheckpointMeanMs, "%.0f"), "", ""},
		{"scale checkpoint_last_MiB", f(mib(s.CheckpointLastBytes), "%.1f"), "", ""},
		{"scale wal_MiB_per_sec", f(mib(s.WALBytesPerSec), "%.2f"), "", ""},
		{"scale wal_bytes_per_event", f(s.WALBytesPerEvent, "%.0f"), "", ""},
		{"scale checkpoint_MiB_per_sec", f(mib(s.CheckpointBytesPerSec), "%.2f"), "", ""},
		{"scale wal_per_checkpoint_bytes", f(s.WALPerCheckpointBytes, "%.2f"), "<= 2", verdict(s.WALPerCheckpointBytes, func(v float64) bool { return v <= 2 })},
		{"scale live_heap_MiB", f(mib(s.LiveHeapBytes), "%.0f"), "", ""},
		{"scale rss_MiB (hwm)", f(mib(s.RSSBytes), "%.0f") + " (" + f(mib(s.HWMBytes), "%.0f") + ")", "", ""},
		{"scale rss_per_live_heap", f(s.RSSPerLiveHeap, "%.2f"), "<= 1.5", verdict(s.RSSPerLiveHeap, func(v float64) bool { return v <= 1.5 })},
		{"scale pg_checkpoint_MiB", f(mib(s.PGCheckpointBytes), "%.1f"), "", ""},
		{"scale pg_database_MiB", f(mib(s.PGDatabaseBytes), "%.0f"), "", ""},
		{"scale pg_per_live_heap", f(s.PGPerLiveHeap, "%.2f"), "<= 2", verdict(s.PGPerLiveHeap, func(v float64) bool { return v <= 2 })},
		{"scale e2e_p50_ms", f(s.E2EP50Ms, "%.1f"), "", ""},
		{"scale e2e_p99_ms", f(s.E2EP99Ms, "%.1f"), "<= 20", verdict(s.E2EP99Ms, func(v float64) bool { return v <= 20 })},
		{"scale e2e_max_ms", f(s.E2EMaxMs, "%.1f"), "", ""},
		{"scale settle_s", f(s.SettleS, "%.0f"), "", ""},
		{"scale e2e_settled_p50_ms", f(s.E2ESettledP50Ms, "%.1f"), "", ""},
		{"scale e2e_settled_p99_ms", f(s.E2ESettledP99Ms, "%.1f"), "<= 20", verdict(s.E2ESettledP99Ms, func(v float64) bool { return v <= 20 })},
		{"  to the alert's store p99_ms", f(s.E2ESettledToStoreP99Ms, "%.1f"), "", ""},
		{"  store to client p99_ms", f(s.E2ESettledStoreToClientP99Ms, "%.1f"), "", ""},
		{"scale restart_to_consuming_s", f(s.RestartToConsumingS, "%.1f"), "", ""},
		{"scale restart_to_first_alert_s", f(s.RestartToFirstAlertS, "%.1f"), "<= 15", verdict(s.RestartToFirstAlertS, func(v float64) bool { return v <= 15 })},
		{"scale rss_after_restart_MiB (hwm)", f(mib(s.RSSAfterRestart), "%.0f") + " (" + f(mib(s.HWMAfterRestart), "%.0f") + ")", "", ""},
	}
	fmt.Fprintf(w, "\nstate at scale: %d subjects asked (%d people, %d accounts), %d events, %d partitions; %d consumed (%d subjects) in %.0f s%s\n\n",
		s.SubjectsTarget, s.People, s.Accounts, s.Events, s.Partitions, s.EventsConsumed, s.SubjectsReached, s.GrowthSeconds,
		map[bool]string{true: "", false: "; stopped: " + s.GrowthStopped}[s.GrowthComplete])
	fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", "measure", "value", "goal", "")
	for _, row := range rows {
		fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", row.name, row.value, row.goal, row.verdict)
	}
	fmt.Fprintf(w, "\n%-14s %-14s %12s %16s\n", "to events", "to subjects", "events/s", "checkpoint ms")
	for _, seg := range s.Segments {
		fmt.Fprintf(w, "%-14d %-14d %12.0f %16s\n", seg.ToEvents, seg.ToSubjects, seg.EPS, f(seg.CheckpointMs, "%.0f"))
	}
}
