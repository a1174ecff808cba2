package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/dowserhq/dowser/backtest"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// backtestConfig are the flags of `dowser signals backtest`.
type backtestConfig struct {
	Signals       string
	Events        string
	FromKafka     bool
	Since         detector.Duration
	KafkaBrokers  string
	Kafka         kafka.Flags
	EventsTopic   string
	Format        string
	Owners        string
	Workers       int
	MaxEventBytes int
	Sources       formats.SourceList
}

func (c *backtestConfig) register(fs *flag.FlagSet) {
	c.Since = detector.Duration(7 * 24 * time.Hour)
	fs.StringVar(&c.Signals, "signals", "", "signal files or directories to run, comma-separated; more may follow the flags as arguments (--signals signals/*.yaml works)")
	fs.StringVar(&c.Events, "events", "", "JSONL file of events, one per line, in partition order; - reads stdin")
	fs.BoolVar(&c.FromKafka, "from-kafka", false, "read the events topic's history instead of a file")
	fs.TextVar(&c.Since, "since", c.Since, "with --from-kafka: how far back to start, by Kafka message time (7d, 36h)")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "127.0.0.1:9092", "with --from-kafka: comma-separated Kafka bootstrap brokers")
	c.Kafka.Register(fs)
	fs.StringVar(&c.EventsTopic, "events-topic", "dowser.events", "with --from-kafka: the events topic")
	fs.StringVar(&c.Format, "format", "summary", "output: summary, or jsonl (one alert a line)")
	fs.StringVar(&c.Owners, "owners", "", "CSV file of accounts, account_id,owner[,lifecycle]: counts alerts per rep and fills in unknown lifecycles")
	fs.IntVar(&c.Workers, "workers", 0, "goroutines decoding events; 0 means one per CPU")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", schema.MaxEventBytes, "largest accepted event; larger ones count as invalid")
	fs.Var(&c.Sources, "source", "the events' format and mapping, as serve's --source gives the events topic's: format=dowser|segment|snowplow|cloudevents and FIELD=PATH overrides (see docs/formats.md)")
}

// runSignalsBacktest runs signals over a file of events or the events
// topic's history and prints what would have fired.
func runSignalsBacktest(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("signals backtest")
	var c backtestConfig
	c.register(fs)
	// A shell glob after --signals gives the first file to the flag and
	// the rest as arguments: all of them are signal files.
	more, err := envflag.ParseWithFiles(fs, args, stderr, getenv)
	if err != nil {
		return err
	}
	paths := append(envflag.SplitList(c.Signals), more...)
	switch {
	case len(paths) == 0:
		fmt.Fprintln(stderr, "dowser signals backtest: give the signal files with --signals FILE[,FILE...] or as arguments")
		return envflag.ErrUsage
	case (c.Events == "") == !c.FromKafka:
		fmt.Fprintln(stderr, "dowser signals backtest: give exactly one of --events FILE and --from-kafka")
		return envflag.ErrUsage
	case c.Format != "summary" && c.Format != "jsonl":
		fmt.Fprintf(stderr, "dowser signals backtest: --format %q is not summary or jsonl\n", c.Format)
		return envflag.ErrUsage
	case c.FromKafka && c.Since <= 0:
		fmt.Fprintf(stderr, "dowser signals backtest: --since must be more than 0, got %s\n", c.Since)
		return envflag.ErrUsage
	}
	// The events are read in the format of the topic they come from (or
	// were copied from): one source, the events topic's.
	sources, err := formats.Sources(c.Sources, "", nil, c.EventsTopic)
	if err != nil {
		return err
	}
	if len(sources) > 1 {
		return fmt.Errorf("--source topic %q: a backtest reads one topic, --events-topic %q; to read several, read <events-topic>.resolved, where the service puts them all", sources[1].Topic(), c.EventsTopic)
	}
	if paths, err = signalFiles(paths); err != nil {
		return err
	}
	signals, err := backtest.LoadSignals(paths...)
	if err != nil {
		return fmt.Errorf("loading signals:\n%w", err)
	}
	cfg := backtest.ReportConfig{
		Config: backtest.Config{Signals: signals, Workers: c.Workers, MaxEventBytes: c.MaxEventBytes, Mapping: sources[0].Mapping()},
		JSONL:  c.Format == "jsonl",
	}
	if c.Owners != "" {
		if cfg.Accounts, err = backtest.LoadAccounts(c.Owners); err != nil {
			return err
		}
	}
	if isTerminal(stderr) {
		cfg.Progress = stderr
	}

	start := time.Now()
	var in backtest.Input
	var history *kafka.History
	if c.FromKafka {
		cl, err := c.Kafka.Cluster(ctx, envflag.SplitList(c.KafkaBrokers), slog.New(slog.NewTextHandler(stderr, nil)))
		if err != nil {
			return err
		}
		history, err = kafka.OpenHistory(ctx, cl, c.EventsTopic, start.Add(-time.Duration(c.Since)))
		if err != nil {
			return err
		}
		in.Size = history.Messages()
		in.Records = func(emit func(int, int64, []byte) error) error { return history.Read(ctx, emit) }
	} else {
		var f io.Closer
		if in, f, err = backtest.OpenJSONL(c.Events); err != nil {
			return err
		}
		defer f.Close()
	}
	s, err := backtest.Report(ctx, cfg, in, stdout, stderr)
	elapsed := time.Since(start)
	if err != nil {
		return err
	}
	if history != nil {
		for _, pr := range history.Incomplete {
			fmt.Fprintf(stderr, "warning: partition %d: nothing after offset %d of %d arrived within %s (transaction markers or compaction); the rest was skipped\n",
				pr.Partition, pr.Start, pr.End, history.Idle)
		}
	}
	for _, w := range s.LifecycleWarnings(signals, c.Owners != "") {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	rate := float64(s.Records) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(stderr, "backtest: %d events, %d alerts in %s (%.0f events/s)\n", s.Records, s.Alerts, elapsed.Round(time.Millisecond), rate)
	return nil
}

// isTerminal reports whether w is a terminal, where a progress bar belongs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
