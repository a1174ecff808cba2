package web

import (
	"strings"
	"testing"
)

// TestFilesServeStages: the stage editor, the handoff figures and the
// panel's handoff block are served, hooked in, and as safe as the rest.
func TestFilesServeStages(t *testing.T) {
	for _, c := range []struct{ page, want string }{
		{"console.html", `id="stage-list"`},
		{"console.html", `id="stage-save"`},
		{"console.html", `id="stage-history"`},
		{"console.html", `id="handoff-body"`},
		{"console.html", `href="stages.css"`},
		{"console.js", `from './stages.js'`},
		{"index.html", `href="stages.css"`},
		{"app.js", `from './handoff.js'`},
	} {
		if !strings.Contains(readFile(t, c.page), c.want) {
			t.Errorf("%s lacks %s", c.page, c.want)
		}
	}
	for _, name := range []string{"stages.js", "handoff.js", "stages.css"} {
		b := readFile(t, name)
		for _, bad := range []string{`src="http`, `href="http`, `url(http`, `url("http`, "@import", ".innerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(b, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
