// Command dowser is the Dowser binary: the demand detector service and its
// tools. Run `dowser help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dowserhq/dowser/envflag"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `dowser: a real-time demand detector.

Usage:
  dowser serve     run the service (embedded Kafka broker when no brokers are configured)
  dowser demo      serve with demo users, accounts, content, signals and synthetic traffic
  dowser broker    run only the embedded Kafka broker
  dowser migrate   apply the database migrations and exit
  dowser produce   produce events, one per line on stdin, to the events topic (--format: Segment, Snowplow, CloudEvents)
  dowser import    create or update users, accounts, contacts or content from a CSV file
  dowser signals   lint, test and backtest signal files (dowser signals help)
  dowser bench     measure throughput, latency and memory (see docs/benchmarks.md)
  dowser version   print the version (also dowser --version)

Every flag also reads an environment variable: --kafka-brokers is DOWSER_KAFKA_BROKERS.
Run "dowser COMMAND -h" for a command's flags.
`

// run is main without the process: it returns the exit code, so tests can
// run the real program in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, args, stderr, getenv, false)
	case "demo":
		err = runServe(ctx, args, stderr, getenv, true)
	case "broker":
		err = runBroker(ctx, args, stderr, getenv)
	case "migrate":
		err = runMigrate(ctx, args, stderr, getenv)
	case "produce":
		err = runProduce(ctx, args, os.Stdin, stderr, getenv)
	case "signals":
		err = runSignals(ctx, args, stdout, stderr, getenv)
	case "import":
		err = runImport(ctx, args, stdout, stderr, getenv)
	case "bench":
		err = runBench(ctx, args, stdout, stderr, getenv)
	case "version", "--version", "-version", "-v":
		fmt.Fprintln(stdout, version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "dowser: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		switch err {
		case envflag.ErrHelp:
			return 0
		case envflag.ErrUsage:
			return 2
		}
		fmt.Fprintf(stderr, "dowser %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
