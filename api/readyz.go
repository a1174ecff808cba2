package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// ReadyCheck is one thing an instance needs to do its job, named for the
// problem report ("postgres", "kafka").
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Readiness answers GET /readyz: 503 with every failing check while one
// fails, else 200 with the partitions consumed. Stalled partitions are
// listed either way without making the instance unready: taking it out of
// the Service would cut its websockets and API without helping the
// partition, and PostgreSQL down would then empty the whole Service. They
// are reported here, in the log and in metrics. So are background loops
// (channel deliveries, escalations, digests, presence) whose latest rounds
// failed: the event path and the sockets work without them.
type Readiness struct {
	Checks []ReadyCheck
	// Stalled words each stalled partition; Partitions lists those this
	// instance consumes.
	Stalled    func() []string
	Partitions func() []int
	// FailingLoops, when set, words each background loop whose latest
	// round failed.
	FailingLoops func() []string
}

// ServeHTTP implements http.Handler. The checks get two seconds.
func (rd Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var problems []string
	for _, c := range rd.Checks {
		if err := c.Check(ctx); err != nil {
			problems = append(problems, c.Name+": "+err.Error())
		}
	}
	stalled := append([]string{}, rd.Stalled()...)
	loops := []string{}
	if rd.FailingLoops != nil {
		loops = append(loops, rd.FailingLoops()...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "not ready", "problems": problems, "stalled": stalled, "failing_loops": loops})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ready", "partitions": rd.Partitions(), "stalled": stalled, "failing_loops": loops})
}
