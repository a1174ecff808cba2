package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/envflag"
)

// TestConfigurationDocsMatchFlags keeps docs/configuration.md in step with
// the flags the binary really has, in both directions.
func TestConfigurationDocsMatchFlags(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("\\| `--([a-z-]+)` \\| `(DOWSER_[A-Z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		if envflag.EnvName(m[1]) != m[2] {
			t.Errorf("docs pair --%s with %s, but its variable is %s", m[1], m[2], envflag.EnvName(m[1]))
		}
		documented[m[1]] = true
	}
	real := map[string]bool{}
	for _, cmd := range []string{"serve", "demo", "broker", "migrate", "produce", "signals lint", "signals test", "signals backtest", "signals generate", "bench", "import"} {
		var out bytes.Buffer
		args := append(strings.Fields(cmd), "-h")
		if code := run(context.Background(), args, &out, &out, func(string) string { return "" }); code != 0 {
			t.Fatalf("dowser %s -h exited %d: %s", cmd, code, out.String())
		}
		for _, m := range regexp.MustCompile(`--([a-z-]+) \(env (DOWSER_[A-Z_]+)\)`).FindAllStringSubmatch(out.String(), -1) {
			real[m[1]] = true
			if !documented[m[1]] {
				t.Errorf("dowser %s has --%s, which docs/configuration.md does not list", cmd, m[1])
			}
		}
	}
	for f := range documented {
		if !real[f] {
			t.Errorf("docs/configuration.md lists --%s, which no command has", f)
		}
	}
}

func TestEnvironmentFillsUnsetFlags(t *testing.T) {
	env := map[string]string{"DOWSER_EVENTS_TOPIC": "from-env", "DOWSER_PARTITIONS": "9", "DATABASE_URL": "postgres://alias", "DOWSER_SIGNALS_POLL": "5s"}
	var cfg serveConfig
	fs := envflag.NewFlagSet("serve")
	cfg.register(fs)
	if err := envflag.Parse(fs, []string{"--partitions", "4"}, &bytes.Buffer{}, func(k string) string { return env[k] }, map[string]string{"database-url": "DATABASE_URL"}); err != nil {
		t.Fatal(err)
	}
	if cfg.EventsTopic != "from-env" || cfg.Partitions != 4 || cfg.DatabaseURL != "postgres://alias" || cfg.SignalsPoll != 5*time.Second {
		t.Errorf("config = %+v: want the env topic, the flag's partitions, DATABASE_URL and 5s", cfg)
	}
	env["DOWSER_PARTITIONS"] = "many"
	fs = envflag.NewFlagSet("serve")
	cfg.register(fs)
	err := envflag.Parse(fs, nil, &bytes.Buffer{}, func(k string) string { return env[k] }, nil)
	if err == nil || !strings.Contains(err.Error(), `DOWSER_PARTITIONS: "many"`) {
		t.Errorf("bad env value: %v, want an error naming DOWSER_PARTITIONS", err)
	}
}
