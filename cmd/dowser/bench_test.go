package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// TestBenchJSON runs a tiny `dowser bench --json` end to end, on an
// in-process broker (the test binary cannot be started as `dowser broker`),
// and checks the keys of its output.
func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	res, _ := runBenchJSON(t, 3, "--events", "20000", "--engine-time", "500ms", "--state-subjects", "20000")
	for _, k := range []string{"raw_consume_eps", "pipeline_eps", "pipeline_vs_raw", "state_bytes_per_subject"} {
		if v, ok := res[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, res[k])
		}
	}
	for _, k := range []string{"e2e_p50_ms", "e2e_p99_ms", "ws_bytes_per_conn"} {
		if _, ok := res[k]; !ok {
			t.Errorf("key %s missing (null when not measured)", k)
		}
	}
	engine, ok := res["engine_eps_per_core"].(map[string]any)
	if !ok {
		t.Fatalf("engine_eps_per_core = %v, want an object", res["engine_eps_per_core"])
	}
	for _, k := range []string{"10", "100", "1000"} {
		if v, ok := engine[k].(float64); !ok || v <= 0 {
			t.Errorf("engine_eps_per_core[%s] = %v, want a positive number", k, engine[k])
		}
	}
}

// TestBenchEndToEnd runs the end-to-end part small: the full service on
// PostgreSQL, a few clients and probes.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dbURL := pgtest.URL(t)
	res, stderr := runBenchJSON(t, 2, "--events", "2000", "--engine-time", "200ms", "--state-subjects", "1000", "--database-url", dbURL,
		"--e2e-rate", "500", "--e2e-clients", "20", "--e2e-alerts", "30", "--ws-conns", "50")
	for _, k := range []string{"e2e_p50_ms", "e2e_p99_ms", "ws_bytes_per_conn"} {
		if _, ok := res[k].(float64); !ok {
			t.Errorf("%s = %v, want a number; stderr:\n%s", k, res[k], stderr)
		}
	}
}

// runBenchJSON runs `dowser bench --json` with args on an in-process broker
// of the given partitions and returns the decoded output and the progress
// written to stderr.
func runBenchJSON(t *testing.T, partitions int, args ...string) (map[string]any, string) {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	args = append([]string{"bench", "--json", "--kafka-brokers", b.Addr(), "--partitions", strconv.Itoa(partitions)}, args...)
	if code := run(ctx, args, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("dowser bench exited %d: %s", code, errOut.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	return res, errOut.String()
}
