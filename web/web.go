package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files returns the panel's and the console's static assets (index.html,
// app.js, team.js, channels.js, console.html, console.js, the session.js and dom.js modules they
// share, the style sheets and favicon.svg; for the installable panel
// pwa.js, the service worker sw.js, manifest.webmanifest and its PNG
// icons) rooted at the static directory, so
// that index.html is at the root of the returned file system. Serve it with
//
//	http.Handle("/", http.FileServerFS(web.Files()))
//
// The files are embedded in the binary; the result is read-only and safe for
// concurrent use.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub only fails on an invalid path; "static" is a constant.
		panic("web: " + err.Error())
	}
	return sub
}
