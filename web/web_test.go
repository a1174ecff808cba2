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

func TestFilesServesConsole(t *testing.T) {
	files := Files()
	for _, name := range []string{"console.html", "console.js", "console.css"} {
		if _, err := fs.Stat(files, name); err != nil {
			t.Errorf("%s missing from Files(): %v", name, err)
		}
	}
	read := func(name string) string {
		t.Helper()
		b, err := fs.ReadFile(files, name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	page := read("console.html")
	// Stable hooks that browser tests rely on.
	for _, hook := range []string{`id="token"`, `id="login"`, `id="signals"`, `id="editor"`, `id="save"`, `id="problems"`, `id="enabled"`, `id="history"`, `id="new-signal"`, `id="preview"`, `id="content-save"`, `id="content-impact"`} {
		if !strings.Contains(page, hook) {
			t.Errorf("console.html lacks %s", hook)
		}
	}
	// The console shares the panel's look and adds its own rules.
	for _, ref := range []string{`href="style.css"`, `href="console.css"`, `src="console.js"`} {
		if !strings.Contains(page, ref) {
			t.Errorf("console.html lacks %s", ref)
		}
	}
	// Offline and safe, like the panel.
	for _, name := range []string{"console.html", "console.js", "console.css"} {
		b := read(name)
		for _, bad := range []string{`src="http`, `href="http`, `url(http`, `url("http`, "@import", ".innerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(b, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	js := read("console.js")
	// Cookie-authenticated writes need the CSRF header; every request
	// goes through one helper that sets it.
	if !strings.Contains(js, `'X-Dowser-CSRF': '1'`) {
		t.Error("console.js does not send X-Dowser-CSRF: 1")
	}
	// The endpoints the console relies on, as docs/api.md names them.
	for _, path := range []string{"/v1/session", "/v1/signals", "/history", "/versions/", "/enable", "/disable", "/v1/precision", "/v1/signals/preview", "/v1/content/", "/impact"} {
		if !strings.Contains(js, path) {
			t.Errorf("console.js never calls %s", path)
		}
	}
	// Every style rule of console.css is scoped to the console, so that
	// the shared style.css and the panel stay as they are.
	css := read("console.css")
	for _, line := range strings.Split(css, "\n") {
		if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, ".console") {
			t.Errorf("console.css rule not scoped to .console: %s", line)
		}
	}
	// The panel links to the console for marketers and admins.
	if !strings.Contains(read("index.html"), `href="console.html"`) {
		t.Error("index.html does not link to console.html")
	}
}
