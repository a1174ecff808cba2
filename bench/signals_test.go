package bench

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/deploy"
)

func TestSignalSet(t *testing.T) {
	sigs, err := signalSet(1000)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range sigs {
		if ids[s.ID] {
			t.Errorf("duplicate signal id %s", s.ID)
		}
		ids[s.ID] = true
	}
	if len(ids) != 1000 {
		t.Errorf("%d signals, want 1000", len(ids))
	}
	pack, err := deploy.Pack()
	if err != nil {
		t.Fatal(err)
	}
	// Every variant watches its product line in each of its matches but
	// a sequence's absent (the pack's one is a form submit) and a
	// silence's expect matches that name no page (a login).
	for i, s := range sigs[len(pack):] {
		b, err := json.Marshal(s.When)
		if err != nil {
			t.Fatal(err)
		}
		line := demo.ProductLine((i/len(pack))%productLines) + "/"
		content := "support-" + line[1:len(line)-1]
		w := string(b)
		matches := strings.Count(w, `"type":`) - strings.Count(w, `"absent":`)
		if q := s.When.Silence; q != nil {
			for _, m := range q.Expect {
				if m.URL == "" && m.Where == "" {
					matches--
				}
			}
		}
		if got := strings.Count(w, line) + strings.Count(w, content); got != matches {
			t.Errorf("%s: %d of %d matches name product line %s: %s", s.ID, got, matches, line, w)
		}
	}
}
