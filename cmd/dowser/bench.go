package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/dowserhq/dowser/bench"
	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// runBench runs `dowser bench`, or, as `dowser bench __clients ...`, the
// websocket clients the bench starts in a process of their own.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == bench.ClientsArg {
		return bench.RunClients(ctx, args[1:], os.Stdin, stdout)
	}
	fs := envflag.NewFlagSet("bench")
	var cfg bench.Config
	var brokers string
	var asJSON bool
	fs.IntVar(&cfg.Events, "events", 1_000_000, "events produced to a fresh topic and consumed raw and by the pipeline")
	fs.IntVar(&cfg.Partitions, "partitions", 6, "partitions of the benchmark topic")
	fs.IntVar(&cfg.Signals, "signals", 100, "signals the pipeline runs: the default pack plus generated variants")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&brokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; empty starts `dowser broker` as a child process on a free port")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (also read from DATABASE_URL); without it the end-to-end latency is not measured")
	fs.Float64Var(&cfg.E2ERate, "e2e-rate", 5000, "events per second of the end-to-end latency run")
	fs.IntVar(&cfg.E2EClients, "e2e-clients", 1000, "websocket clients connected during the end-to-end latency run")
	fs.IntVar(&cfg.E2EAlerts, "e2e-alerts", 1000, "alerts the end-to-end latency run measures")
	fs.IntVar(&cfg.WSConns, "ws-conns", 10_000, "idle websocket connections of the memory measurement (with --database-url; 0 skips it)")
	fs.DurationVar(&cfg.EngineTime, "engine-time", 10*time.Second, "most CPU time the engine measurement spends evaluating for one signal count")
	fs.IntVar(&cfg.StateSubjects, "state-subjects", 1_000_000, "active subjects (people and their accounts, half each) of the detector state measurement (20 signals)")
	fs.IntVar(&cfg.ScaleSubjects, "scale-subjects", 5_000_000, "detector subjects (people and their accounts, 5 people an account) the state-at-scale stage grows a `dowser serve` child process to (with --database-url); 0 skips the stage")
	fs.IntVar(&cfg.ScalePartitions, "scale-partitions", 6, "partitions of the state-at-scale topic")
	fs.DurationVar(&cfg.ScaleTimeout, "scale-timeout", 15*time.Minute, "most time the state-at-scale stage takes; what it reached by then is reported")
	fs.IntVar(&cfg.ScaleAlerts, "scale-alerts", 300, "probe alerts of the state-at-scale latency run (at --e2e-rate)")
	fs.Int64Var(&cfg.ScaleMaxRSS, "scale-max-rss", 0, "RSS in bytes of the service child at which the state-at-scale growth stops; 0 is half the machine's available memory")
	fs.BoolVar(&cfg.ScaleOnly, "scale-only", false, "run only the state-at-scale stage")
	var kf kafka.Flags
	kf.Register(fs)
	if err := envflag.Parse(fs, args, stderr, getenv, map[string]string{"database-url": "DATABASE_URL"}); err != nil {
		return err
	}
	sec, err := kf.Settings()
	if err != nil {
		return err
	}
	cfg.KafkaSecurity = sec
	if cfg.Events < 1 || cfg.Partitions < 1 || cfg.Signals < 1 || cfg.StateSubjects < 1 {
		return errors.New("--events, --partitions, --signals and --state-subjects must be at least 1")
	}
	if cfg.ScaleSubjects < 0 || cfg.ScalePartitions < 1 || cfg.ScaleTimeout <= 0 || cfg.ScaleAlerts < 1 || cfg.ScaleMaxRSS < 0 {
		return errors.New("--scale-subjects and --scale-max-rss must be at least 0, --scale-partitions and --scale-alerts at least 1, --scale-timeout positive")
	}
	cfg.KafkaBrokers = envflag.SplitList(brokers)
	cfg.Progress = stderr
	cfg.NewService = newBenchService
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	bench.WriteTable(stdout, res)
	return nil
}

// newBenchService is the service the bench measures end to end: `dowser
// serve`'s App, quiet, polling signals often.
func newBenchService(c bench.ServiceConfig) (bench.Service, error) {
	return newApp(serveConfig{
		HTTPAddr:        "127.0.0.1:0",
		DatabaseURL:     c.DatabaseURL,
		KafkaBrokers:    strings.Join(c.KafkaBrokers, ","),
		Kafka:           kafka.Flags{Security: c.KafkaSecurity},
		EventsTopic:     c.EventsTopic,
		AlertsTopic:     c.AlertsTopic,
		GroupID:         c.GroupID,
		Partitions:      c.Partitions,
		Replication:     1,
		MaxEventBytes:   schema.MaxEventBytes,
		SignalsPoll:     200 * time.Millisecond,
		CheckpointEvery: 2 * time.Second,
		// As served: every event also goes to the buyer's journey.
		JourneyDays: defaultJourneyDays,
	}, slog.New(slog.DiscardHandler), io.Discard)
}
