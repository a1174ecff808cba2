package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/backtest"
	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/schema"
)

const signalsUsage = `Usage:
  dowser signals lint FILE...       check signal files; prints FILE: path: reason per problem
  dowser signals test FIXTURE...    run fixtures: events in, exactly the expected alerts out
  dowser signals backtest           run signals over recorded events and summarize what would have fired
  dowser signals generate           write a file of synthetic events (the demo's traffic) to try backtests on

Exit status: 0 when all is well, 1 when a file has problems or a fixture fails, 2 for a bad command line.
Run "dowser signals COMMAND -h" for a command's flags; docs/signals-workflow.md shows the workflow.
`

// runSignals runs `dowser signals SUBCOMMAND`.
func runSignals(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, signalsUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "lint":
		return runSignalsLint(args, stdout, stderr, getenv)
	case "test":
		return runSignalsTest(args, stdout, stderr, getenv)
	case "backtest":
		return runSignalsBacktest(ctx, args, stdout, stderr, getenv)
	case "generate":
		return runSignalsGenerate(args, stdout, stderr, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, signalsUsage)
		return nil
	}
	fmt.Fprintf(stderr, "dowser signals: unknown command %q\n\n%s", sub, signalsUsage)
	return errUsage
}

// parseFlagsAndFiles is parseFlags for commands that take file arguments:
// flags may come before, between or after the files ("--" ends the flags).
func parseFlagsAndFiles(fs *flag.FlagSet, args []string, stderr io.Writer, getenv func(string) string) ([]string, error) {
	var flags, files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			files = append(files, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.SplitN(strings.TrimLeft(a, "-"), "=", 2)[0]
			if f := fs.Lookup(name); f != nil && !strings.Contains(a, "=") && !isBoolFlag(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			files = append(files, a)
		}
	}
	return files, parseFlags(fs, flags, stderr, getenv, nil)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// runSignalsLint checks signal files and prints every problem.
func runSignalsLint(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("signals lint")
	files, err := parseFlagsAndFiles(fs, args, stderr, getenv)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: dowser signals lint FILE...")
		return errUsage
	}
	signals, problems := backtest.Lint(files...)
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		bad := map[string]bool{}
		for _, p := range problems {
			bad[p.File] = true
		}
		return fmt.Errorf("%s in %s", plural(len(problems), "problem"), plural(len(bad), "file"))
	}
	fmt.Fprintf(stdout, "ok: %s in %s\n", plural(len(signals), "signal"), plural(len(files), "file"))
	return nil
}

// runSignalsTest runs fixtures and prints a diff for each one that fails.
func runSignalsTest(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("signals test")
	verbose := fs.Bool("v", false, "also list the alerts of fixtures that pass")
	files, err := parseFlagsAndFiles(fs, args, stderr, getenv)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: dowser signals test [-v] FIXTURE...")
		return errUsage
	}
	failed := 0
	for _, file := range files {
		f, err := backtest.LoadFixture(file)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "FAIL %s\n%s", file, indent(err.Error()))
			continue
		}
		r := f.Run()
		if !r.OK() {
			failed++
			fmt.Fprintf(stdout, "FAIL %s\n%s", file, indent(r.Diff()))
			continue
		}
		fmt.Fprintf(stdout, "ok   %s (%s, %s)\n", file, plural(len(f.Events), "event"), plural(len(r.Alerts), "alert"))
		if *verbose {
			for i := range r.Alerts {
				a := &r.Alerts[i]
				fmt.Fprintf(stdout, "       %s %s at %s: %s\n", a.SignalID, a.Subject, a.EventID, a.Message)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %s failed", failed, plural(len(files), "fixture"))
	}
	return nil
}

// backtestConfig are the flags of `dowser signals backtest`.
type backtestConfig struct {
	Signals       string
	Events        string
	FromKafka     bool
	Since         detector.Duration
	KafkaBrokers  string
	EventsTopic   string
	Format        string
	Owners        string
	Workers       int
	MaxEventBytes int
}

func (c *backtestConfig) register(fs *flag.FlagSet) {
	c.Since = detector.Duration(7 * 24 * time.Hour)
	fs.StringVar(&c.Signals, "signals", "", "comma-separated signal files to run (required)")
	fs.StringVar(&c.Events, "events", "", "JSONL file of events, one per line, in partition order; - reads stdin")
	fs.BoolVar(&c.FromKafka, "from-kafka", false, "read the events topic's history instead of a file")
	fs.TextVar(&c.Since, "since", c.Since, "with --from-kafka: how far back to start, by Kafka message time (7d, 36h)")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "127.0.0.1:9092", "with --from-kafka: comma-separated Kafka bootstrap brokers")
	fs.StringVar(&c.EventsTopic, "events-topic", "dowser.events", "with --from-kafka: the events topic")
	fs.StringVar(&c.Format, "format", "summary", "output: summary, or jsonl (one alert a line)")
	fs.StringVar(&c.Owners, "owners", "", "CSV file of accounts, account_id,owner[,lifecycle]: counts alerts per rep and fills in unknown lifecycles")
	fs.IntVar(&c.Workers, "workers", 0, "goroutines decoding events; 0 means one per CPU")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", schema.MaxEventBytes, "largest accepted event; larger ones count as invalid")
}

// runSignalsBacktest runs signals over a file of events or the events
// topic's history and prints what would have fired.
func runSignalsBacktest(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("signals backtest")
	var c backtestConfig
	c.register(fs)
	if err := parseFlags(fs, args, stderr, getenv, nil); err != nil {
		return err
	}
	switch {
	case c.Signals == "":
		fmt.Fprintln(stderr, "dowser signals backtest: --signals is required")
		return errUsage
	case (c.Events == "") == !c.FromKafka:
		fmt.Fprintln(stderr, "dowser signals backtest: give exactly one of --events FILE and --from-kafka")
		return errUsage
	case c.Format != "summary" && c.Format != "jsonl":
		fmt.Fprintf(stderr, "dowser signals backtest: --format %q is not summary or jsonl\n", c.Format)
		return errUsage
	case c.FromKafka && c.Since <= 0:
		fmt.Fprintf(stderr, "dowser signals backtest: --since must be more than 0, got %s\n", c.Since)
		return errUsage
	}
	signals, err := backtest.LoadSignals(splitList(c.Signals)...)
	if err != nil {
		return fmt.Errorf("loading signals:\n%w", err)
	}
	var accounts map[string]backtest.Account
	if c.Owners != "" {
		if accounts, err = backtest.LoadAccounts(c.Owners); err != nil {
			return err
		}
	}

	out := bufio.NewWriterSize(stdout, 64<<10)
	cfg := backtest.Config{Signals: signals, Accounts: accounts, Workers: c.Workers, MaxEventBytes: c.MaxEventBytes}
	if c.Format == "jsonl" {
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		cfg.OnAlert = func(a *schema.Alert, rep string) error {
			return enc.Encode(backtest.NewAlertRecord(a, rep))
		}
	}
	runner := backtest.NewRunner(cfg)

	start := time.Now()
	var total int64
	var inBytes bool
	var run func() error
	var history *ingest.History
	if c.FromKafka {
		from := start.Add(-time.Duration(c.Since))
		history, err = ingest.OpenHistory(ctx, splitList(c.KafkaBrokers), c.EventsTopic, from)
		if err != nil {
			return err
		}
		total = history.Messages()
		run = func() error {
			return runner.RunRecords(ctx, func(emit func(int, int64, []byte) error) error {
				return history.Read(ctx, emit)
			})
		}
	} else {
		var in io.Reader = os.Stdin
		if c.Events != "-" {
			f, err := os.Open(c.Events)
			if err != nil {
				return fmt.Errorf("reading events: %w", err)
			}
			defer f.Close()
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				total = st.Size()
			}
			in = f
		}
		inBytes = true
		run = func() error { return runner.RunJSONL(ctx, in) }
	}

	if isTerminal(stderr) {
		p := backtest.StartProgress(stderr, total, inBytes, func() (int64, int64) {
			b, recs, _ := runner.Progress()
			if inBytes {
				return b, recs
			}
			return recs, recs
		})
		err = run()
		p.Stop()
	} else {
		err = run()
	}
	elapsed := time.Since(start)
	if err != nil {
		out.Flush()
		return err
	}

	s := runner.Summary()
	if c.Format == "summary" {
		if err := s.WriteText(out); err != nil {
			return err
		}
	} else if s.Invalid > 0 {
		fmt.Fprintf(stderr, "%s invalid events; the first %d:\n", strconv.FormatInt(s.Invalid, 10), len(s.InvalidSamples))
		for _, r := range s.InvalidSamples {
			fmt.Fprintf(stderr, "  %s\n", r)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if history != nil {
		for _, pr := range history.Incomplete {
			fmt.Fprintf(stderr, "warning: partition %d: nothing after offset %d of %d arrived within %s (transaction markers or compaction); the rest was skipped\n",
				pr.Partition, pr.Start, pr.End, history.Idle)
		}
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

// runSignalsGenerate writes synthetic events with the demo's traffic mix:
// mostly noise, with accounts researching in earnest now and then.
func runSignalsGenerate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("signals generate")
	n := fs.Int("events", 100_000, "number of events")
	outPath := fs.String("out", "-", "file to write, one JSON event a line; - is stdout")
	accountsPath := fs.String("accounts", "", "also write the demo accounts as CSV (account_id,owner,lifecycle) for backtest --owners")
	startText := fs.String("start", "2026-11-01T00:00:00Z", "event time of the first event (RFC 3339)")
	step := fs.Duration("step", time.Second, "event time between consecutive events")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parseFlags(fs, args, stderr, getenv, nil); err != nil {
		return err
	}
	start, err := time.Parse(time.RFC3339, *startText)
	if err != nil {
		return fmt.Errorf("--start: %q is not an RFC 3339 time", *startText)
	}
	if *n < 0 || *step <= 0 {
		fmt.Fprintln(stderr, "dowser signals generate: --events must be at least 0 and --step more than 0")
		return errUsage
	}
	w := stdout
	if *outPath != "-" {
		f, err := os.Create(*outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	last, err := demo.WriteEvents(w, *seed, *n, start, *step)
	if err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing events: %w", err)
		}
	}
	if *accountsPath != "" {
		if err := writeDemoAccounts(*accountsPath); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "generated %d events from %s to %s\n", *n, start.Format(time.RFC3339), last.Format(time.RFC3339))
	return nil
}

// writeDemoAccounts writes the demo accounts, as the demo seeds them, to
// a CSV file at path.
func writeDemoAccounts(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	return errors.Join(demo.WriteAccountsCSV(f), f.Close())
}
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
