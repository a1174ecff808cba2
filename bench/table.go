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
	)
	fmt.Fprintf(w, "dowser bench: %d events (%.0f bytes avg), %d partitions, %d pipeline signals, GOMAXPROCS %d\n\n",
		r.Events, r.EventBytesAvg, r.Partitions, r.PipelineSignals, r.GOMAXPROCS)
	fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", "measure", "value", "goal", "")
	for _, row := range rows {
		fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", row.name, row.value, row.goal, row.verdict)
	}
	fmt.Fprintf(w, "\npipeline alerts: %d; state: %d subjects, %d signal-subject states\n", r.PipelineAlerts, r.StateSubjects, r.StateSignalPairs)
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
