package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// deployMetricRef is a Dowser metric named in a PromQL expression. The
// deploy/validate module checks, with Prometheus's PromQL parser, that
// it finds every metric the rules and the dashboard select.
var deployMetricRef = regexp.MustCompile(`\bdowser_[a-z0-9_]+`)

// deployMetricNames are the Dowser metrics that the alert rules and the
// Grafana dashboard under deploy/ name, with a histogram's series suffix
// taken off.
func deployMetricNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range []string{"../../deploy/prometheus/alerts.yaml", "../../deploy/grafana/dashboards/dowser.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range deployMetricRef.FindAllString(string(b), -1) {
			if strings.HasSuffix(n, "_") {
				continue // a prose family, "dowser_postgres_pool_*"
			}
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(n, suffix); ok && strings.HasSuffix(base, "_seconds") {
					n = base
				}
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("the deploy files name only %d Dowser metrics: %q", len(names), names)
	}
	return names
}

// TestEndToEndDeployFilesNameLiveMetrics runs the service through events,
// an alert delivered on a socket, a dead-lettered event and an owner
// that routing passes over, then reads its
// /metrics: every metric that an alert rule or a dashboard panel uses must
// be there, or the rule never fires and the panel stays empty.
func TestEndToEndDeployFilesNameLiveMetrics(t *testing.T) {
	names := deployMetricNames(t)
	app := startApp(t, func(c *serveConfig) { c.CheckpointEvery = 100 * time.Millisecond })
	app.seed()
	// A content row owned by a rep, as saved before owners were checked:
	// routing passes its owner over (dowser_routing_owner_skipped_total).
	if err := app.store.Directory.PutContent(context.Background(), dowser.Content{ID: "legacy", URLPrefix: "https://", OwnerID: "rep-ben"}); err != nil {
		t.Fatal(err)
	}
	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv([]byte("acme"), []byte(`{"id": "evt-bad"`)),
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-time.Minute))),
	)
	if _, a := ana.nextAlert(5 * time.Second); a["account_id"] != "acme" {
		t.Fatalf("alert = %v, want acme's", a)
	}

	// Some families appear only once their first partition has been
	// checkpointed or its lag read: wait for them.
	var missing []string
	deadline := time.Now().Add(time.Minute)
	for {
		exposed := exposedFamilies(t, app.HTTPAddr())
		missing = missing[:0]
		for _, n := range names {
			if !exposed[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Errorf("named in deploy/prometheus/alerts.yaml or deploy/grafana/dashboards/dowser.json but not in /metrics: %q", missing)
	}
}

// exposedFamilies are the metric families of addr's /metrics.
func exposedFamilies(t *testing.T, addr string) map[string]bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ := strings.Cut(rest, " ")
			out[name] = true
		}
	}
	return out
}
