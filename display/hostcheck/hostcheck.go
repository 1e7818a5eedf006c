// Package hostcheck is the Host check of the box's pages for browsers; it
// lives in display/web now ([web.CheckHost], or [web.Handler] with
// CheckHost), and Handler stays for the wiring that calls it.
package hostcheck

import (
	"net/http"

	"github.com/tillbox/tillbox/display/web"
)

// Handler is [web.CheckHost]: it serves next only for requests to the box's
// addresses and names and to names; others get 421 Misdirected Request.
func Handler(next http.Handler, names []string) http.Handler { return web.CheckHost(next, names) }
