package web

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFilesServesPanel(t *testing.T) {
	files := Files()
	for _, name := range []string{"index.html", "app.js", "style.css", "favicon.svg"} {
		if _, err := fs.Stat(files, name); err != nil {
			t.Errorf("%s missing from Files(): %v", name, err)
		}
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	// Stable hooks that browser tests rely on.
	for _, hook := range []string{`id="token"`, `id="login"`, `id="alerts"`, `id="conn"`, `data-state="offline"`} {
		if !strings.Contains(string(page), hook) {
			t.Errorf("index.html lacks %s", hook)
		}
	}
	// Offline and safe: nothing is loaded from another origin, and no data is
	// rendered through innerHTML.
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{`src="http`, `href="http`, `url(http`, `url("http`, "@import", ".innerHTML", "insertAdjacentHTML", "document.write"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
