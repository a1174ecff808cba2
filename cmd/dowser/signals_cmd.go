package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dowserhq/dowser/backtest"
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
