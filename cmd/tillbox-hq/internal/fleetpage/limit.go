package fleetpage

import (
	"net/http"

	"github.com/tillbox/tillbox/display/web"
)

// remote is who r comes from, for the log and the login limit
// (web.Limiter): its IPv4 address, or the /64 of its IPv6 address (a host
// may take any address of its network).
func remote(r *http.Request) string { return web.Network(web.Client(r)) }
