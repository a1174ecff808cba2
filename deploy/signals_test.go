package deploy_test

import (
	"path/filepath"
	"testing"

	"github.com/dowserhq/dowser/backtest"
)

// TestSignalPack keeps the default signal pack honest: every signal file
// lints clean, every fixture in signals/tests passes (exactly the expected
// alerts, in order, as `dowser signals test` checks), and every signal file
// is named by at least one fixture, so that no signal ships untested.
func TestSignalPack(t *testing.T) {
	signals, err := filepath.Glob("signals/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(signals) == 0 {
		t.Fatal("no signal files in signals/")
	}
	if _, problems := backtest.Lint(signals...); len(problems) > 0 {
		for _, p := range problems {
			t.Error(p)
		}
	}

	fixtures, err := filepath.Glob("signals/tests/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, file := range fixtures {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f, err := backtest.LoadFixture(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range f.SignalFiles {
				tested[filepath.Clean(s)] = true
			}
			if r := f.Run(); !r.OK() {
				t.Errorf("%s", r.Diff())
			}
		})
	}
	for _, s := range signals {
		if !tested[filepath.Clean(s)] {
			t.Errorf("%s: no fixture in signals/tests names it; add one (see docs/signals-workflow.md)", s)
		}
	}
}
