package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// errUsage means the usage was printed for a bad command line (exit 2);
// errHelp that it was asked for (exit 0).
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

// envName is the environment variable that backs a flag:
// --kafka-brokers is DOWSER_KAFKA_BROKERS.
func envName(flagName string) string {
	return "DOWSER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command
// line from its DOWSER_* environment variable. aliases maps a flag to a
// further variable read when its DOWSER_* one is empty (DATABASE_URL).
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, getenv func(string) string, aliases map[string]string) error {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of dowser %s:\n", fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s (env %s)\n\t%s", f.Name, envName(f.Name), f.Usage)
			if f.DefValue != "" {
				fmt.Fprintf(stderr, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dowser %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" && aliases[f.Name] != "" {
			v = getenv(aliases[f.Name])
		}
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", envName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
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

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ContinueOnError)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// logConfig are the logging flags every long-running command has.
type logConfig struct {
	format string
	level  string
}

func (c *logConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "log-format", "auto", "log format: auto (JSON unless stderr is a terminal), json or text")
	fs.StringVar(&c.level, "log-level", "info", "log level: debug, info, warn or error")
}

func (c *logConfig) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not auto, json or text", c.format)
}
