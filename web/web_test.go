package web

import (
	"io/fs"
	"strings"
	"testing"
)

// readFile answers one of the embedded files as text.
func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilesServesPanel(t *testing.T) {
	files := Files()
	for _, name := range []string{"index.html", "app.js", "session.js", "dom.js", "journey.js", "channels.js", "style.css", "favicon.svg"} {
		if _, err := fs.Stat(files, name); err != nil {
			t.Errorf("%s missing from Files(): %v", name, err)
		}
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	// Stable hooks that browser tests rely on.
	for _, hook := range []string{`id="login-form"`, `id="session"`, `id="alerts"`, `id="conn"`, `data-state="offline"`} {
		if !strings.Contains(string(page), hook) {
			t.Errorf("index.html lacks %s", hook)
		}
	}
	// Offline and safe: nothing is loaded from another origin, and no data is
	// rendered through innerHTML.
	for _, name := range []string{"index.html", "app.js", "session.js", "dom.js", "journey.js", "channels.js", "style.css"} {
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

// The channels view (#16) calls the endpoints docs/api.md names, and the
// panel imports it.
func TestFilesServesChannelsView(t *testing.T) {
	js := readFile(t, "channels.js")
	for _, path := range []string{"'/v1/channels'", "/deliveries?status=failed", "'PUT'", "'DELETE'", "'POST'"} {
		if !strings.Contains(js, path) {
			t.Errorf("channels.js lacks %s", path)
		}
	}
	if !strings.Contains(readFile(t, "app.js"), `from './channels.js'`) {
		t.Error("app.js does not import channels.js")
	}
	page := readFile(t, "index.html")
	for _, hook := range []string{`id="channels-link"`, `id="channels-mark"`, `id="view-channels"`, `id="channel-list"`, `id="channel-form"`, `id="ch-zone"`} {
		if !strings.Contains(page, hook) {
			t.Errorf("index.html lacks %s", hook)
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
	page := readFile(t, "console.html")
	// Stable hooks that browser tests rely on.
	for _, hook := range []string{`id="login-form"`, `id="session"`, `id="signals"`, `id="editor"`, `id="save"`, `id="problems"`, `id="enabled"`, `id="history"`, `id="new-signal"`, `id="preview"`, `id="content-save"`, `id="content-impact"`} {
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
		b := readFile(t, name)
		for _, bad := range []string{`src="http`, `href="http`, `url(http`, `url("http`, "@import", ".innerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if strings.Contains(b, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	js := readFile(t, "console.js")
	// The endpoints the console relies on, as docs/api.md names them.
	for _, path := range []string{"/v1/signals", "/history", "/versions/", "/enable", "/disable", "/v1/precision", "/v1/signals/preview", "/v1/content/", "/impact"} {
		if !strings.Contains(js, path) {
			t.Errorf("console.js never calls %s", path)
		}
	}
	// Every style rule of console.css is scoped to the console, so that
	// the shared style.css and the panel stay as they are.
	css := readFile(t, "console.css")
	for _, line := range strings.Split(css, "\n") {
		if strings.HasPrefix(line, ".") && !strings.HasPrefix(line, ".console") {
			t.Errorf("console.css rule not scoped to .console: %s", line)
		}
	}
	// The panel links to the console for marketers and admins.
	if !strings.Contains(readFile(t, "index.html"), `href="console.html"`) {
		t.Error("index.html does not link to console.html")
	}
}

func TestFilesShareSession(t *testing.T) {
	// The panel and the console sign in through the one module.
	for _, name := range []string{"app.js", "console.js"} {
		if !strings.Contains(readFile(t, name), `from './session.js'`) {
			t.Errorf("%s does not import session.js", name)
		}
	}
	js := readFile(t, "session.js")
	// Cookie-authenticated writes need the CSRF header; every request
	// goes through one helper that sets it.
	if !strings.Contains(js, `'X-Dowser-CSRF': '1'`) {
		t.Error("session.js does not send X-Dowser-CSRF: 1")
	}
	if !strings.Contains(js, "/v1/session") {
		t.Error("session.js never calls /v1/session")
	}
	// Stable hooks that browser tests rely on, rendered into both pages.
	for _, hook := range []string{`id: 'token'`, `id: 'login'`, `id: 'logout'`} {
		if !strings.Contains(js, hook) {
			t.Errorf("session.js does not render %s", hook)
		}
	}
}
