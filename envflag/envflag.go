// Package envflag parses the command lines of dowser's commands: flags,
// each backed by a DOWSER_* environment variable when not given, the
// usage text that names both, and the logging flags every long-running
// command shares.
//
// It imports no other Dowser package.
package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// ErrUsage means the usage was printed for a bad command line (exit 2);
// ErrHelp that it was asked for (exit 0).
var (
	ErrUsage = errors.New("usage")
	ErrHelp  = errors.New("help")
)

// EnvName is the environment variable that backs a flag:
// --kafka-brokers is DOWSER_KAFKA_BROKERS.
func EnvName(flagName string) string {
	return "DOWSER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse parses args, then fills every flag not given on the command
// line from its DOWSER_* environment variable. aliases maps a flag to a
// further variable read when its DOWSER_* one is empty (DATABASE_URL).
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer, getenv func(string) string, aliases map[string]string) error {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage of dowser %s:\n", fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s (env %s)\n\t%s", f.Name, EnvName(f.Name), f.Usage)
			if f.DefValue != "" {
				fmt.Fprintf(stderr, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dowser %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return ErrUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		v := getenv(EnvName(f.Name))
		if v == "" && aliases[f.Name] != "" {
			v = getenv(aliases[f.Name])
		}
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q: %w", EnvName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// ParseWithFiles is Parse for commands that take file arguments:
// flags may come before, between or after the files ("--" ends the flags).
func ParseWithFiles(fs *flag.FlagSet, args []string, stderr io.Writer, getenv func(string) string) ([]string, error) {
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
	return files, Parse(fs, flags, stderr, getenv, nil)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// NewFlagSet is a flag set of the command name that returns its errors.
func NewFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ContinueOnError)
}

// SplitList splits a comma-separated flag value, dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// LogFlags are the logging flags every long-running command has.
type LogFlags struct {
	format string
	level  string
}

// Register adds --log-format and --log-level to fs.
func (c *LogFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.format, "log-format", "auto", "log format: auto (JSON unless stderr is a terminal), json or text")
	fs.StringVar(&c.level, "log-level", "info", "log level: debug, info, warn or error")
}

// Logger is the logger the flags describe, writing to w.
func (c *LogFlags) Logger(w io.Writer) (*slog.Logger, error) {
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

// Secret is a secret given on the command line inline or, with the flag
// named flag+"-file", in a file (white space around it ignored): nil when
// neither is set. Checking the secret is the caller's.
func Secret(flag, inline, file string) ([]byte, error) {
	if file == "" {
		if inline == "" {
			return nil, nil
		}
		return []byte(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s-file: %w", flag, err)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
