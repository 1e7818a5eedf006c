package display

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/tillbox/tillbox/display/web"
)

// Path is where Handler serves the display: the page at /display/, the
// WebSocket at /display/ws?till=ID (the first till when none is named).
const Path = "/display/"

//go:embed assets
var assets embed.FS

// CSP is the Content Security Policy of every answer: only the box's own
// script, style and WebSocket; no inline script or style, no frames.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the display's page, assets and WebSocket under Path.
// Mount it on a mux beside other pages (the technician page).
func (h *Hub) Handler() http.Handler {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the directory is embedded
	}
	page, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path+"ws", h.serveWS)
	mux.HandleFunc("GET "+Path+"{$}", func(w http.ResponseWriter, r *http.Request) {
		// The page starts in the till's language, before the first view.
		lang := "en"
		if t := h.Till(r.URL.Query().Get("till")); t != nil {
			lang = t.View().Lang
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(bytes.Replace(page, []byte(`<html lang="en">`), []byte(`<html lang="`+lang+`">`), 1))
	})
	static := http.StripPrefix(strings.TrimSuffix(Path, "/"), http.FileServerFS(files))
	mux.Handle("GET "+Path, static)
	return web.Handler(mux, web.Options{CSP: CSP, CacheControl: "no-cache"})
}
