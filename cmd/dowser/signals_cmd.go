package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/dowserhq/dowser/backtest"
	"github.com/dowserhq/dowser/envflag"
)

const signalsUsage = `Usage:
  dowser signals lint FILE|DIR...   check signal files (a directory: its .yaml, .yml and .json files); prints FILE: path: reason per problem
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
		return envflag.ErrUsage
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
	return envflag.ErrUsage
}

// runSignalsLint checks signal files and prints every problem.
func runSignalsLint(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("signals lint")
	files, err := envflag.ParseWithFiles(fs, args, stderr, getenv)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: dowser signals lint FILE|DIR...")
		return envflag.ErrUsage
	}
	if files, err = signalFiles(files); err != nil {
		return err
	}
	return backtest.LintFiles(stdout, files...)
}

// signalExts are the extensions of the signal files a directory stands for.
var signalExts = []string{".yaml", ".yml", ".json"}

// signalFiles expands the paths given for signal files: a directory stands
// for the signal files under it, at any depth, in name order. Other paths
// are kept as given (a missing file is the linter's to report). A
// directory without signal files is an error: its signals would be
// silently left out.
func signalFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && slices.Contains(signalExts, strings.ToLower(filepath.Ext(path))) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading signal directory %s: %w", p, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no signal files in it (%s)", p, strings.Join(signalExts, ", "))
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// runSignalsTest runs fixtures and prints a diff for each one that fails.
func runSignalsTest(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("signals test")
	verbose := fs.Bool("v", false, "also list the alerts of fixtures that pass")
	files, err := envflag.ParseWithFiles(fs, args, stderr, getenv)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: dowser signals test [-v] FIXTURE...")
		return envflag.ErrUsage
	}
	return backtest.TestFixtures(stdout, *verbose, files...)
}
