package backtest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const pricingSignal = `id: pricing-research
owner: mkt-jane
audience: prospect
scope: account
priority: high
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 7d
cooldown: 72h
message: "{{.Account}}: pricing viewed {{.Count}} times in 7 days"
`

const webinarSignal = `id: webinar-signup
owner: mkt-jane
when: {threshold: {match: {type: webinar_signup}, count: 1, within: 30d}}
`

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one", "id: a\n", []string{"id: a\n"}},
		{"json", `{"id": "a"}`, []string{`{"id": "a"}`}},
		{"leading marker", "---\nid: a\n", []string{"\nid: a\n"}},
		{"two keep their lines", "id: a\n---\n# b\nid: b\n", []string{"id: a\n", "\n\n# b\nid: b\n"}},
		{"empty documents dropped", "# head\n---\n---\nid: a\n...\n", []string{"\n\n\nid: a\n"}},
		{"content on the marker line", "id: a\n--- {id: b}\n", []string{"id: a\n", "\n--- {id: b}\n"}},
		{"marker-like text is content", "id: a\nmessage: |\n  ---\n", []string{"id: a\nmessage: |\n  ---\n"}},
		{"all empty", "# nothing\n", []string{"# nothing\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range splitDocuments([]byte(tt.in)) {
				got = append(got, string(d))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitDocuments(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLint(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "pricing.yaml", pricingSignal)
	stream := writeFile(t, dir, "stream.yaml", webinarSignal+"---\nid: bad\nowner: x\nwhen:\n  threshold: {match: {type: page_view}, count: 0, within: 7x}\n")
	dup := writeFile(t, dir, "dup.json", `{"id": "pricing-research", "owner": "o", "when": {"threshold": {"match": {"type": "page_view"}, "count": 1, "within": "1d"}}}`)
	missing := filepath.Join(dir, "missing.yaml")

	signals, problems := Lint(good, stream, dup, missing)
	var ids []string
	for _, s := range signals {
		ids = append(ids, s.ID)
		if s.Version != 1 {
			t.Errorf("signal %s has version %d, want 1", s.ID, s.Version)
		}
	}
	if want := []string{"pricing-research", "webinar-signup"}; !slices.Equal(ids, want) {
		t.Errorf("signals = %v, want %v", ids, want)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		stream + ` (document 2): when.threshold.within: "7x" is not a duration`,
		stream + ` (document 2): when.threshold.count: must be between 1 and 10000, got 0`,
		dup + `: id: "pricing-research" is also defined in ` + good,
		missing + `: open: no such file or directory`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if _, err := LoadSignals(good, stream); err == nil {
		t.Error("LoadSignals of a file with problems: no error")
	} else if pe := (*ProblemsError)(nil); !errors.As(err, &pe) || len(pe.Problems) != 2 {
		t.Errorf("LoadSignals error = %v, want a ProblemsError with 2 problems", err)
	}
	if s, err := LoadSignals(good); err != nil || len(s) != 1 {
		t.Errorf("LoadSignals(good) = %d signals, %v", len(s), err)
	}
}

func TestLintKeepsLineNumbersInStreams(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "s.yaml", webinarSignal+"---\nid: b\nowner: o\nbogus: 1\nwhen: {threshold: {match: {type: x}, count: 1, within: 1d}}\n")
	_, problems := Lint(path)
	if len(problems) != 1 || problems[0].Path != "bogus" || !strings.Contains(problems[0].Reason, "line 7") {
		t.Errorf("problems = %v, want one about bogus at line 7", problems)
	}
}
