package web

import (
	"encoding/json"
	"image/png"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestInstallableShell checks the installable panel's files against each
// other: the manifest is valid JSON with the fields an install needs and
// icons that exist at the sizes it claims; the service worker caches only
// files that exist, never the API; the page links the manifest.
func TestInstallableShell(t *testing.T) {
	files := Files()
	var m struct {
		Name      string `json:"name"`
		ShortName string `json:"short_name"`
		StartURL  string `json:"start_url"`
		Display   string `json:"display"`
		Icons     []struct{ Src, Sizes, Type string }
	}
	raw, err := fs.ReadFile(files, "manifest.webmanifest")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest.webmanifest: %v", err)
	}
	if m.Name == "" || m.ShortName == "" || m.StartURL == "" || m.Display != "standalone" {
		t.Errorf("manifest lacks a name, short name, start URL or standalone display: %s", raw)
	}
	sizes := map[string]bool{}
	for _, ic := range m.Icons {
		if ic.Type != "image/png" {
			continue
		}
		f, err := files.Open(ic.Src)
		if err != nil {
			t.Errorf("manifest icon %s: %v", ic.Src, err)
			continue
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Errorf("manifest icon %s: %v", ic.Src, err)
			continue
		}
		if got := strconv.Itoa(cfg.Width) + "x" + strconv.Itoa(cfg.Height); got != ic.Sizes {
			t.Errorf("manifest icon %s is %s, the manifest says %s", ic.Src, got, ic.Sizes)
		}
		sizes[ic.Sizes] = true
	}
	if !sizes["192x192"] || !sizes["512x512"] {
		t.Errorf("manifest PNG icons %v, want 192x192 and 512x512 (needed to install)", sizes)
	}

	sw := readFile(t, "sw.js")
	list := regexp.MustCompile(`(?s)const SHELL = \[(.*?)\]`).FindStringSubmatch(sw)
	if list == nil {
		t.Fatal("sw.js has no SHELL list")
	}
	shell := map[string]bool{}
	for _, q := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(list[1], -1) {
		name := q[1]
		shell[name] = true
		if strings.Contains(name, "v1/") {
			t.Errorf("sw.js caches %s: API data must not be cached", name)
		}
		if name == "./" {
			continue
		}
		if _, err := fs.Stat(files, name); err != nil {
			t.Errorf("sw.js caches %s, which Files() lacks", name)
		}
	}
	// Every module the panel imports, however deep, is in the shell: one
	// left out makes the offline panel fail to load at all.
	imports := regexp.MustCompile(`(?m)^import .* from '\./([^']+)'`)
	for todo, seen := []string{"app.js"}, map[string]bool{}; len(todo) > 0; todo = todo[1:] {
		for _, m := range imports.FindAllStringSubmatch(readFile(t, todo[0]), -1) {
			if name := m[1]; !seen[name] {
				seen[name] = true
				todo = append(todo, name)
				if !shell[name] {
					t.Errorf("the panel imports %s, which sw.js's SHELL lacks", name)
				}
			}
		}
	}
	for _, hook := range []string{`rel="manifest" href="manifest.webmanifest"`, `id="sound"`} {
		if !strings.Contains(readFile(t, "index.html"), hook) {
			t.Errorf("index.html lacks %s", hook)
		}
	}
	for _, name := range []string{"sw.js", "pwa.js"} {
		for _, bad := range []string{"http://", "https://", ".innerHTML", "importScripts"} {
			if strings.Contains(readFile(t, name), bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
