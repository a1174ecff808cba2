package detector

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsExamples parses every complete signal (a yaml block starting
// with "id:") in docs/signals.md, so that the reference never shows an
// example that does not work.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/signals.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	n := 0
	for _, b := range blocks {
		if !strings.HasPrefix(b[1], "id: ") {
			continue
		}
		n++
		if _, err := ParseSignal([]byte(b[1])); err != nil {
			t.Errorf("example\n%s\ndoes not parse: %v", b[1], err)
		}
	}
	if n < 10 {
		t.Errorf("found %d examples in docs/signals.md, want at least 10", n)
	}
}
