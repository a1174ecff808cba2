package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/postgres/pgtest"
)

// A SIGTERM while serve is still starting (an orchestrator scaling down a
// pod that was just scheduled) is a clean stop, as it is once serving: exit
// status 0, not an error about the startup step it interrupted.
func TestServeStoppedWhileStartingExitsZero(t *testing.T) {
	db := pgtest.URL(t)
	// Stopped before it starts, then at points further into its startup;
	// wherever the stop lands, the exit is clean.
	for _, after := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, 200 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		if after == 0 {
			cancel()
		} else {
			time.AfterFunc(after, cancel)
		}
		var stderr bytes.Buffer
		code := run(ctx, []string{"serve", "--database-url", db, "--embedded-kafka-addr", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--partitions", "2", "--log-format", "text", "--log-level", "warn"}, &stderr, &stderr, func(string) string { return "" })
		cancel()
		if code != 0 {
			t.Errorf("stopped %v after start: exit %d, want 0; output:\n%s", after, code, stderr.String())
		}
	}
}

// A database that does not exist, or credentials it refuses, will not
// come right by waiting: serve exits with the reason instead of retrying
// forever. A server that does not answer yet is still waited for.
func TestServeGivesUpOnADatabaseThatRefusesForGood(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/dowser_no_such_database"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	code := run(ctx, []string{"serve", "--database-url", u.String(), "--embedded-kafka-addr", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--log-format", "text"}, &stderr, &stderr, func(string) string { return "" })
	if ctx.Err() != nil {
		t.Fatalf("serve still retrying after a minute; output:\n%s", stderr.String())
	}
	if code == 0 || !strings.Contains(stderr.String(), "dowser_no_such_database") || strings.Contains(stderr.String(), "retrying") {
		t.Errorf("exit %d, want a failure naming the database without retries; output:\n%s", code, stderr.String())
	}
}
