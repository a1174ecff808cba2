package backtest

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LintFiles lints signal files (Lint) and writes every problem to w, one a
// line; when there is none, it writes "ok: N signals in M files". The error
// counts the problems and the files they are in.
func LintFiles(w io.Writer, files ...string) error {
	signals, problems := Lint(files...)
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	if len(problems) > 0 {
		bad := map[string]bool{}
		for _, p := range problems {
			bad[p.File] = true
		}
		return fmt.Errorf("%s in %s", plural(len(problems), "problem"), plural(len(bad), "file"))
	}
	fmt.Fprintf(w, "ok: %s in %s\n", plural(len(signals), "signal"), plural(len(files), "file"))
	return nil
}

// TestFixtures runs fixture files (LoadFixture, Fixture.Run) and writes a
// line to w for each: "ok   FILE (N events, M alerts)", or "FAIL FILE"
// followed by the error or the diff, indented. With verbose, the alerts of
// the fixtures that pass are listed too. The error counts the failures.
func TestFixtures(w io.Writer, verbose bool, files ...string) error {
	failed := 0
	for _, file := range files {
		f, err := LoadFixture(file)
		if err != nil {
			failed++
			fmt.Fprintf(w, "FAIL %s\n%s", file, indent(err.Error()))
			continue
		}
		r := f.Run()
		if !r.OK() {
			failed++
			fmt.Fprintf(w, "FAIL %s\n%s", file, indent(r.Diff()))
			continue
		}
		fmt.Fprintf(w, "ok   %s (%s, %s)\n", file, plural(len(f.Events), "event"), plural(len(r.Alerts), "alert"))
		if verbose {
			for i := range r.Alerts {
				a := &r.Alerts[i]
				fmt.Fprintf(w, "       %s %s at %s: %s\n", a.SignalID, a.Subject, a.EventID, a.Message)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %s failed", failed, plural(len(files), "fixture"))
	}
	return nil
}

// plural counts n of a regular noun: "1 file", "2 files".
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
