package backtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/backtest"
)

func TestOpenJSONLKnowsAFilesSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte("{}\n{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in, f, err := backtest.OpenJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if in.JSONL == nil || in.Size != 6 {
		t.Errorf("OpenJSONL = %+v, want a reader of 6 bytes", in)
	}
	if in, _, _ := backtest.OpenJSONL("-"); in.JSONL != os.Stdin || in.Size != 0 {
		t.Errorf(`OpenJSONL("-") = %+v, want stdin of unknown size`, in)
	}
	if _, _, err := backtest.OpenJSONL(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.HasPrefix(err.Error(), "reading events: ") {
		t.Errorf("a missing file: err = %v", err)
	}
}
