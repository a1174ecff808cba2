package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/envflag"
)

// runSignalsGenerate writes synthetic events with the demo's traffic mix:
// mostly noise, with accounts researching in earnest now and then.
func runSignalsGenerate(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("signals generate")
	n := fs.Int("events", 100_000, "number of events")
	outPath := fs.String("out", "-", "file to write, one JSON event a line; - is stdout")
	accountsPath := fs.String("accounts", "", "also write the demo accounts as CSV (account_id,owner,lifecycle) for backtest --owners")
	startText := fs.String("start", "2026-11-01T00:00:00Z", "event time of the first event (RFC 3339)")
	step := fs.Duration("step", time.Second, "event time between consecutive events")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := envflag.Parse(fs, args, stderr, getenv, nil); err != nil {
		return err
	}
	start, err := time.Parse(time.RFC3339, *startText)
	if err != nil {
		return fmt.Errorf("--start: %q is not an RFC 3339 time", *startText)
	}
	if *n < 0 || *step <= 0 {
		fmt.Fprintln(stderr, "dowser signals generate: --events must be at least 0 and --step more than 0")
		return envflag.ErrUsage
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
