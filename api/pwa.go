package api

import (
	"net/http"
	"strings"
)

// appAssets serves the panel's files with what an installable app needs
// beyond a file server: the manifest's media type (unknown to Go's table,
// and sniffed as text/plain otherwise, which browsers refuse), and a
// service worker that browsers re-check on every load rather than after
// a cached copy expires.
func appAssets(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ".webmanifest"):
			w.Header().Set("Content-Type", "application/manifest+json")
		case strings.HasSuffix(r.URL.Path, "/sw.js"):
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}
