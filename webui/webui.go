// Package webui is the dashboard memoryd serves: the customer's at / and the operator's
// at /admin. It is static HTML, CSS and ES modules, embedded in the binary, that call
// the JSON API with the session cookie the API's /v1/session gives; no build step. The
// chart library (uPlot) is vendored under static/vendor with its licence.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// CSP lets the pages load only their own files and call only their own server: no
// inline script or style, no other host.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves / (the customer dashboard), /admin (the operator's) and /ui/* (their
// files).
func Handler() http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var name string
		switch {
		case r.URL.Path == "/":
			name = "index.html"
		case r.URL.Path == "/admin":
			name = "admin.html"
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			name = path.Clean(strings.TrimPrefix(r.URL.Path, "/ui/"))
		}
		if name == "" || strings.HasSuffix(name, ".html") && strings.HasPrefix(r.URL.Path, "/ui/") {
			http.NotFound(w, r)
			return
		}
		st, err := fs.Stat(static, name)
		if err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		// The files change with the binary; revalidating keeps a browser from mixing
		// versions after an upgrade.
		h.Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, name)
	})
}
