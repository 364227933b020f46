// Package web holds bucketdesk's browser UI: static HTML, CSS and ES
// modules with no build step, embedded in the binary and served at "/" by
// `bucketdesk serve` (and, on AWS, uploaded as they are to S3 behind
// CloudFront). The UI speaks only the API of docs/api.md.
package web

import (
	"embed"
	"net/http"
	"strings"
)

// FS holds the UI's files at its root: index.html, app.css and the modules.
//
//go:embed index.html *.css *.js
var FS embed.FS

// contentSecurityPolicy allows nothing from elsewhere: the UI loads no
// external resource and talks only to its own origin (HTTP and WebSocket).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the UI. index.html is revalidated on every load so that a
// new binary's UI is picked up at once; the other files may be cached
// briefly. Only GET and HEAD are allowed.
func Handler() http.Handler {
	files := http.FileServerFS(FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.URL.Path == "/" || r.URL.Path == "/index.html" || !strings.Contains(r.URL.Path, ".") {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(w, r)
	})
}
